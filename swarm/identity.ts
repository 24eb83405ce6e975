// The swarm identity: an Ed25519 key whose public half is the libp2p peer id. The seed keeps it in
// a file (its peer id is on every agent's kernel command line, so it must survive restarts); an
// agent keeps it in memory (a ramdisk forgets it anyway, and it enrolls its new id at every boot).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { ErrorCode, LpmosError } from '../core/errors.ts';

export const KEY_FILE = 'swarm-key';

export function newIdentity(): Promise<PrivateKey> {
  return generateKeyPair('Ed25519');
}

/** Reads `<dir>/swarm-key` (libp2p protobuf form), or creates it (mode 0600, written atomically). */
export async function loadOrCreateIdentity(dir: string): Promise<PrivateKey> {
  const file = join(dir, KEY_FILE);
  let bytes: Buffer | undefined;
  try {
    bytes = await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (bytes) {
    try {
      return privateKeyFromProtobuf(bytes);
    } catch (e) {
      throw new LpmosError(ErrorCode.Validation, `${file} is not a libp2p private key: remove it to make a new identity (the peer id changes)`, { cause: e });
    }
  }
  const key = await newIdentity();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600 });
  await rename(tmp, file);
  return key;
}
