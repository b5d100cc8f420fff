import { randomBytes } from 'node:crypto';
import { ConflictException, Injectable, Logger, NotFoundException, OnApplicationBootstrap } from '@nestjs/common';
import { Clock } from '../common/clock';
import { AuthConfig } from '../config/config';
import { isUserId, newUserId } from '../session/session-keys';
import { PasswordHasher } from './password-hasher';
import { User, UserStore } from './user-store';
import { CreateUserDto, UserDto, UserListDto } from './users.dto';

export function toUserDto(user: User): UserDto {
  return {
    id: user.id,
    username: user.username,
    roles: user.roles,
    disabled: user.disabled,
    createdAt: new Date(user.createdAt).toISOString(),
  };
}

@Injectable()
export class UsersService implements OnApplicationBootstrap {
  private readonly logger = new Logger(UsersService.name);

  constructor(
    private readonly store: UserStore,
    private readonly hasher: PasswordHasher,
    private readonly config: AuthConfig,
    private readonly clock: Clock,
  ) {}

  /** The first admin, when there is no user at all. */
  async onApplicationBootstrap(): Promise<void> {
    if ((await this.store.count()) > 0) return;
    const username = this.config.adminUsername ?? 'admin';
    const generated = this.config.adminPassword === undefined;
    const password = this.config.adminPassword ?? randomBytes(18).toString('base64url');
    const created = await this.insert(username, password, ['admin', 'user']);
    // Another instance starting at the same time may have won the name; then it logs, not us.
    if (!created) return;
    if (generated) {
      this.logger.warn(`Created the first admin "${username}" with the generated password: ${password} (shown once)`);
    } else {
      this.logger.log(`Created the first admin "${username}" from ADMIN_USERNAME/ADMIN_PASSWORD`);
    }
  }

  async create(dto: CreateUserDto): Promise<UserDto> {
    const user = await this.insert(dto.username, dto.password, dto.roles ?? ['user']);
    if (!user) throw new ConflictException('Username already taken');
    return toUserDto(user);
  }

  /** The user when the password is right and the account enabled; the same work either way. */
  async verifyCredentials(username: string, password: string): Promise<User | null> {
    const user = await this.store.findByUsername(username);
    if (!user) return this.hasher.burn(password).then(() => null);
    const ok = await this.hasher.verify(user.passwordHash, password);
    return ok && !user.disabled ? user : null;
  }

  async list(limit = 100, cursor = 0): Promise<UserListDto> {
    const page = await this.store.list(limit, cursor);
    return { users: page.users.map(toUserDto), nextCursor: page.nextCursor };
  }

  async get(id: string): Promise<User> {
    const user = isUserId(id) ? await this.store.findById(id) : null;
    if (!user) throw new NotFoundException('User not found');
    return user;
  }

  private async insert(username: string, password: string, roles: string[]): Promise<User | null> {
    const user: User = {
      id: newUserId(),
      username,
      passwordHash: await this.hasher.hash(password),
      roles: [...new Set(roles)],
      disabled: false,
      createdAt: this.clock.now(),
    };
    return (await this.store.create(user)) ? user : null;
  }
}
