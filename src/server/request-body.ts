/** A request body read whole, up to a limit (the webhook shim, OFREP). */
import type { NodeRequest } from '../node-http.js';

/** 'too large' as soon as the declared or the read size passes `maxBytes`. */
export async function readBody(req: NodeRequest, maxBytes: number): Promise<Buffer | 'too large'> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) return 'too large';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > maxBytes) return 'too large';
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}
