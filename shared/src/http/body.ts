import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { RavenhelmError } from '../errors.js';
import { clip } from '../message.js';

/** The request content codings the server decodes (RFC 9110 8.4.1), as an Accept-Encoding answer lists them. */
export const ACCEPTED_ENCODINGS = 'gzip, deflate, br';

const DECODERS = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
} as const;
export type Coding = keyof typeof DECODERS;

/**
 * Refuses a request body the server would misread (415), from its headers alone:
 * - a media type other than application/json (compared whole: `application/jsonl` is not JSON);
 * - a charset other than UTF-8: JSON exchanged between systems is UTF-8 (RFC 8259 8.1), and decoding
 *   Latin-1 bytes as UTF-8 would turn "café" into "caf\uFFFD" without a word;
 * - a content coding other than gzip, deflate or br (RFC 9110 15.5.16: the answer's Accept-Encoding
 *   lists those), or several codings stacked.
 * @returns the content coding to undo, if any
 */
export function checkJsonBody(req: IncomingMessage): Coding | undefined {
  const [essence = '', ...params] = (req.headers['content-type'] ?? '').split(';');
  if (essence.trim().toLowerCase() !== 'application/json') {
    throw new RavenhelmError('ERR_UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json');
  }
  for (const param of params) {
    const eq = param.indexOf('=');
    if (param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    const charset = param
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8') {
      throw new RavenhelmError(
        'ERR_UNSUPPORTED_MEDIA_TYPE',
        `charset '${clip(charset)}' is not accepted: JSON is UTF-8 (RFC 8259 8.1); send the body as UTF-8, with charset=utf-8 or none`,
      );
    }
  }
  return contentCoding(req);
}

export function contentCoding(req: IncomingMessage): Coding | undefined {
  const header = req.headers['content-encoding'];
  if (header === undefined) return undefined;
  const codings = header
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return undefined;
  const [coding] = codings;
  if (codings.length > 1 || !Object.hasOwn(DECODERS, coding as string)) {
    throw new RavenhelmError(
      'ERR_UNSUPPORTED_MEDIA_TYPE',
      `Content-Encoding '${clip(header)}' is not accepted; send the body uncompressed or with one of: ${ACCEPTED_ENCODINGS}`,
      { acceptEncoding: ACCEPTED_ENCODINGS },
    );
  }
  return coding as Coding;
}

function tooLarge(maxBytes: number, coding: Coding | undefined): RavenhelmError {
  const decoded = coding ? ' once decompressed' : '';
  return new RavenhelmError('ERR_BODY_TOO_LARGE', `request body is over ${maxBytes} bytes${decoded}`);
}

/**
 * The whole body as text: decompressed when `coding` says so, refused past `maxBytes` (on the wire and
 * after decompression, so a small bomb is stopped as early as a large body; the rest is dropped unread
 * while the 413 is sent, and the connection closed after it), refused when it is not UTF-8. A leading byte order mark is dropped
 * (RFC 8259 8.1 lets a parser ignore it).
 */
export function readBody(req: IncomingMessage, maxBytes: number, coding?: Coding): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) return Promise.reject(tooLarge(maxBytes, undefined));
  // Stream events, not `for await`: no async iterator, end-of-stream watcher and promise per chunk.
  return new Promise<string>((resolve, reject) => {
    const decoder = coding ? DECODERS[coding]() : undefined;
    const source = decoder ?? req;
    const chunks: Buffer[] = [];
    let size = 0;
    let wire = 0;
    let settled = false;
    const done = () => {
      settled = true;
      source.off('data', onData);
      source.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (decoder) {
        req.off('data', onWire);
        decoder.off('error', onDecodeError);
      }
    };
    const fail = (err: Error, destroy = false) => {
      if (settled) return;
      done();
      if (decoder) {
        req.unpipe(decoder);
        decoder.destroy();
      }
      // Over the cap: the rest is read and dropped, not kept, until the 413 is written; that answer says
      // `Connection: close` (the handler's refuseUnreadBody), so the connection ends right after it. Destroying
      // the request here would reset the connection before the client could read why.
      if (destroy) req.resume();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) return fail(tooLarge(maxBytes, coding), true);
      chunks.push(chunk);
    };
    // Compressed bytes count too: empty deflate blocks decode to nothing, however many are sent.
    const onWire = (chunk: Buffer) => {
      wire += chunk.length;
      if (wire > maxBytes) fail(tooLarge(maxBytes, undefined), true);
    };
    const onEnd = () => {
      if (settled) return;
      done();
      let bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
      if (!isUtf8(bytes)) {
        reject(new RavenhelmError('ERR_PARSE', 'body is not valid UTF-8; JSON is UTF-8 (RFC 8259 8.1)'));
        return;
      }
      resolve(bytes.toString('utf8'));
    };
    const onError = (err: Error) => fail(err);
    const onDecodeError = () =>
      fail(
        new RavenhelmError(
          'ERR_PARSE',
          `body is not valid ${coding} data (it was sent with Content-Encoding: ${coding})`,
        ),
      );
    // The request closes after its last byte; with a decoder that can come before the decoder's end.
    const onClose = () => {
      if (!decoder || !req.complete) fail(new Error('the client closed the connection before the body was read'));
    };
    source.on('data', onData);
    source.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
    if (decoder) {
      req.on('data', onWire);
      decoder.on('error', onDecodeError);
      req.pipe(decoder);
    }
  });
}
