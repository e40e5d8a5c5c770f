// Build step after tsc: proto/ parsed once into the descriptor the server loads at start-up
// (src/pb/load.ts). Without it the server parses proto/ itself, a few tens of ms slower.
import { DESCRIPTOR_FILE, writeProtoDescriptor } from '../src/pb/load';

writeProtoDescriptor();
process.stdout.write(`wrote ${DESCRIPTOR_FILE}\n`);
