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

/** The same response with its body read up to `limit` bytes; throws ResponseTooLarge past it. */
export async function capResponse(response: Response, limit = MAX_ISSUER_RESPONSE_BYTES): Promise<Response> {
  if (!response.body) return response;
  if (Number(response.headers.get('content-length') ?? 0) > limit) {
    await response.body.cancel();
    throw new ResponseTooLarge(limit);
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw new ResponseTooLarge(limit);
    }
    chunks.push(value);
  }
  return new Response(Buffer.concat(chunks), {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/** fetch with {@link capResponse} applied: for openid-client's and jose's `customFetch`. */
export async function cappedFetch(url: string, init: RequestInit): Promise<Response> {
  return capResponse(await fetch(url, init));
}
