import { randomBytes } from 'node:crypto';
import {
  BadRequestException,
  ConflictException,
  Injectable,
  Logger,
  NotFoundException,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { AuditActor, AuditService } from '../audit/audit.service';
import { Clock } from '../common/clock';
import { AuthConfig } from '../config/config';
import { SessionService } from '../session/session.service';
import { PasswordHasher } from './password-hasher';
import { isUserId, newUserId } from './user-ids';
import { User, UserChanges, UserStore } from './user-store';
import { CreateUserDto, DeletedUserDto, UpdateUserDto, UserDto, UserListDto } from './users.dto';

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
    private readonly sessions: SessionService,
    private readonly audit: AuditService,
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

  async create(dto: CreateUserDto, actor: AuditActor, ip?: string): Promise<UserDto> {
    const user = await this.insert(dto.username, dto.password, dto.roles ?? ['user']);
    if (!user) throw new ConflictException('Username already taken');
    await this.audit.record({
      type: 'user_created',
      actor,
      subject: user.id,
      ip,
      detail: `roles: ${user.roles.join(',')}`,
    });
    return toUserDto(user);
  }

  /**
   * Changes roles, password or the disabled flag; any of them ends all the user's sessions. The
   * version bump comes first, so a login that read the old user fails instead of slipping through.
   */
  async update(id: string, dto: UpdateUserDto, actor: AuditActor, ip?: string): Promise<UserDto> {
    if (dto.roles === undefined && dto.password === undefined && dto.disabled === undefined) {
      throw new BadRequestException('Nothing to change: give roles, password or disabled');
    }
    if (id === actor.userId && (dto.disabled === true || (dto.roles && !dto.roles.includes('admin')))) {
      throw new ConflictException('You cannot disable yourself or remove your own admin role');
    }
    const changes: UserChanges = {};
    if (dto.roles !== undefined) changes.roles = [...new Set(dto.roles)];
    if (dto.disabled !== undefined) changes.disabled = dto.disabled;
    if (dto.password !== undefined) changes.passwordHash = await this.hasher.hash(dto.password);
    const user = await this.store.update(this.checkId(id), changes);
    if (!user) throw new NotFoundException('User not found');
    const ended = await this.sessions.revokeForUser(id);
    // Name what changed, never the password itself.
    const changed = (['roles', 'password', 'disabled'] as const).filter((k) => dto[k] !== undefined);
    await this.audit.record({
      type: 'user_updated',
      actor,
      subject: id,
      ip,
      detail: `changed ${changed.join(', ')}; ended ${ended.length} session(s)`,
    });
    return toUserDto(user);
  }

  async remove(id: string, actor: AuditActor, ip?: string): Promise<DeletedUserDto> {
    if (id === actor.userId) throw new ConflictException('You cannot delete yourself');
    if (!(await this.store.delete(this.checkId(id)))) throw new NotFoundException('User not found');
    const ended = await this.sessions.revokeForUser(id);
    await this.audit.record({
      type: 'user_deleted',
      actor,
      subject: id,
      ip,
      detail: `ended ${ended.length} session(s)`,
    });
    return { deleted: true, revoked: ended.length };
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

  private checkId(id: string): string {
    if (!isUserId(id)) throw new BadRequestException('Invalid user id');
    return id;
  }

  private async insert(username: string, password: string, roles: string[]): Promise<User | null> {
    const user: User = {
      id: newUserId(),
      username,
      passwordHash: await this.hasher.hash(password),
      roles: [...new Set(roles)],
      disabled: false,
      createdAt: this.clock.now(),
      version: 1,
    };
    return (await this.store.create(user)) ? user : null;
  }
}
