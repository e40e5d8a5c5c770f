// A call's metadata, read from its request headers as grpc-js's Metadata would give it: by lower-
// case key, every value of that key, "-bin" keys base64-decoded. Only get() is offered: it is all
// the service code asks of it. Pseudo-headers and HTTP/2's own are not metadata.
import type { HeaderField } from '../h2/hpack';

export class CallMetadata {
  constructor(private readonly fields: readonly HeaderField[]) {}

  get(key: string): (string | Buffer)[] {
    const name = key.toLowerCase();
    if (name.startsWith(':')) return [];
    const out: (string | Buffer)[] = [];
    const fields = this.fields;
    for (let i = 0; i < fields.length; i++) {
      const [n, v] = fields[i];
      if (n !== name) continue;
      if (name.endsWith('-bin')) for (const part of v.split(',')) out.push(Buffer.from(part.trim(), 'base64'));
      else out.push(v);
    }
    return out;
  }
}
