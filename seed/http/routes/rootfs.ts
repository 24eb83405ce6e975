// The seed's root images (seed/rootfs/builds.ts):
//   POST /rootfs?os=debian&suite=bookworm&arch=amd64&variant=minbase&components=main&include=a,b,…
//     → 200 {state: ready, image: {key, sha256, size, path, …}} | 202 {state: building, …} (ask again)
//     | 502 {state: failed, code, message} (the build failed; tried again a minute later).
//   GET|HEAD /rootfs/<key>.tar.zst → the image (Range allowed: the swarm's seed fallback asks per piece).
// The spec comes in the query (API bodies are not read, server.ts); bad specs are 400 naming the field.
import { ErrorCode, LpmosError } from '../../../core/errors.ts';
import { rootfsSpecFromQuery } from '../../../installers/debian/root-image.ts';
import { sendJson, type Handler } from '../context.ts';
import { sendFile } from '../send-file.ts';

const FILE = /^\/rootfs\/([0-9a-f]{64})\.tar\.zst$/;

export function matchRootfsFile(path: string): boolean {
  return FILE.test(path);
}

export const rootfsBuild: Handler = async (ctx, app) => {
  if (!app.rootfs) throw new LpmosError(ErrorCode.NotFound, 'this seed builds no root images (it runs no mirror)');
  const answer = await app.rootfs.request(rootfsSpecFromQuery(ctx.url.searchParams));
  sendJson(ctx, answer.state === 'ready' ? 200 : answer.state === 'building' ? 202 : 502, answer, answer.state === 'building' ? { 'Retry-After': '5' } : {});
};

export const rootfsFile: Handler = async (ctx, app) => {
  const key = FILE.exec(ctx.url.pathname)?.[1];
  if (!app.rootfs || !key) throw new LpmosError(ErrorCode.NotFound, `no such root image: ${ctx.url.pathname}`);
  await sendFile(ctx, app.rootfs.file(key), `root image ${key}`);
};
