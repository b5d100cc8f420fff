export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __REDIS_TOPOLOGY__?: { stop(): Promise<void> } }).__REDIS_TOPOLOGY__?.stop();
}
