/**
 * A byte cap on what the issuer sends back (discovery document, JWKS, introspection response). jose and
 * openid-client read a whole body into memory however large it is; a misconfigured URL (a file server, a
 * log endpoint) or a failing issuer must cost a bounded amount, as every backend read does here.
 */

/** Far above real metadata, key sets and introspection answers (a few KiB; Zitadel role claims tens of KiB). */
export const MAX_ISSUER_RESPONSE_BYTES = 1024 * 1024;

export class ResponseTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`response body larger than ${limit} bytes`);
    this.name = 'ResponseTooLarge';
  }
}

export interface CappedBodyOptions {
  /** The error past the cap (`declared`: a Content-Length over it, refused before reading); ResponseTooLarge by default. */
  tooLarge?: (size: { declared?: number }) => Error;
  /** Kept up to date with the bytes read so far: what a timeout in the middle of the body can report. */
  progress?: { bytes: number };
}

/**
 * A body read up to `limit` bytes. A declared Content-Length over the cap is refused before any byte is read;
 * otherwise reading stops at the first chunk past the cap, the rest of the stream is cancelled, and what was
 * read is dropped. The one capped reader of the suite: the kit's backend reader can be this one.
 */
export async function readCappedBody(response: Response, limit: number, opts: CappedBodyOptions = {}): Promise<Buffer> {
  const tooLarge = opts.tooLarge ?? (() => new ResponseTooLarge(limit));
  if (!response.body) return Buffer.alloc(0);
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) {
    await response.body.cancel().catch(() => undefined);
    throw tooLarge({ declared });
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (opts.progress) opts.progress.bytes = total;
    if (total > limit) {
      chunks.length = 0;
      await reader.cancel().catch(() => undefined);
      throw tooLarge({});
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}

/** The same response with its body read up to `limit` bytes; throws ResponseTooLarge past it. */
export async function capResponse(response: Response, limit = MAX_ISSUER_RESPONSE_BYTES): Promise<Response> {
  if (!response.body) return response;
  return new Response(await readCappedBody(response, limit), {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/** fetch with {@link capResponse} applied: for openid-client's and jose's `customFetch`. */
export async function cappedFetch(url: string, init: RequestInit): Promise<Response> {
  return capResponse(await fetch(url, init));
}
