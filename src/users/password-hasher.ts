import { Injectable, OnModuleInit } from '@nestjs/common';
import argon2 from 'argon2';

/**
 * argon2id at OWASP's minimum (19 MiB, 2 passes, 1 lane). The work runs on libuv's thread pool,
 * never on the event loop; at most MAX_CONCURRENT hashes run at once so that a login storm leaves
 * the event loop (and the thread pool, which DNS and file I/O share) room to serve everyone else.
 */
const OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
const MAX_CONCURRENT = 2;

@Injectable()
export class PasswordHasher implements OnModuleInit {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private dummyHash = '';

  async onModuleInit(): Promise<void> {
    this.dummyHash = await this.hash('not a password anyone has');
  }

  hash(password: string): Promise<string> {
    return this.limited(() => argon2.hash(password, OPTIONS));
  }

  verify(hash: string, password: string): Promise<boolean> {
    return this.limited(() => argon2.verify(hash, password)).catch(() => false);
  }

  /** The same work as a wrong password, for a username that does not exist. */
  async burn(password: string): Promise<false> {
    await this.verify(this.dummyHash, password);
    return false;
  }

  private async limited<T>(work: () => Promise<T>): Promise<T> {
    // A finished hash hands its slot straight to the next waiter, so the bound holds exactly.
    if (this.running >= MAX_CONCURRENT) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running += 1;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }
}
