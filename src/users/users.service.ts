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
import { SessionHandle } from '../session/session-ids';
import { parseHash, parseProfile, profileName, refusalOf, slowestProfiles } from './password-hash-formats';
import { OWN_PROFILE, PasswordHasher } from './password-hasher';
import { isUserId, newUserId } from './user-ids';
import { User, UserChanges, UserStore, usernameKey } from './user-store';
import {
  CreateUserDto,
  DeletedUserDto,
  ImportedUserDto,
  ImportResultDto,
  ImportUsersDto,
  MAX_ROLES,
  ROLE_PATTERN,
  UpdateUserDto,
  USERNAME_PATTERN,
  UserDto,
  UserListDto,
} from './users.dto';

/** Users an import writes at once: enough to overlap round trips to Redis, few enough not to crowd it. */
const IMPORT_CHUNK = 50;
/** How soon this instance times the hash profiles another instance imported (see refreshProfiles). */
const PROFILE_POLL_MS = 60_000;

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
  private profilesReadAt = -Infinity;
  private profilesRefresh: Promise<void> | undefined;

  constructor(
    private readonly store: UserStore,
    private readonly hasher: PasswordHasher,
    private readonly sessions: SessionService,
    private readonly audit: AuditService,
    private readonly config: AuthConfig,
    private readonly clock: Clock,
  ) {}

  /** Times the imported hash profiles; creates the first admin when there is no user at all. */
  async onApplicationBootstrap(): Promise<void> {
    await this.refreshProfiles();
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

  /**
   * A user's own password change, once the caller has proved the current one: the new hash, every
   * session of the user ended (the caller's too: it continues under a new one), audited.
   * Null when the user was deleted meanwhile.
   */
  async changeOwnPassword(
    user: User,
    newPassword: string,
    ip?: string,
  ): Promise<{ user: User; ended: SessionHandle[] } | null> {
    const passwordHash = await this.hasher.hash(newPassword);
    const updated = await this.store.update(user.id, { passwordHash });
    if (!updated) return null;
    const ended = await this.sessions.revokeForUser(user.id);
    await this.audit.record({
      type: 'password_changed',
      actor: { userId: user.id, username: user.username },
      subject: user.id,
      ip,
      detail: `by the user; ended ${ended.length} session(s)`,
    });
    return { user: updated, ended };
  }

  /** The user, or 404. */
  async get(id: string): Promise<User> {
    const user = await this.store.findById(this.checkId(id));
    if (!user) throw new NotFoundException('User not found');
    return user;
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

  /**
   * The user when the password is right and the account enabled; a failure takes the same time
   * whoever the user is, or if there is none (PasswordHasher.verify). A hash that is not this
   * service's current argon2id (an imported one) is replaced at the first successful login.
   */
  async verifyCredentials(username: string, password: string): Promise<User | null> {
    await this.refreshProfiles();
    const user = await this.store.findByUsername(username);
    if (!user) return this.hasher.burn(password).then(() => null);
    const ok = await this.hasher.verify(user.passwordHash, password, { padRight: user.disabled });
    if (!ok || user.disabled) return null;
    if (this.hasher.needsRehash(user.passwordHash)) await this.rehash(user, password);
    return user;
  }

  /**
   * Creates users of another system with the password hashes it kept. Each user is created whole or
   * skipped with a reason; a name is claimed before its user is written (UserStore.create), so two
   * imports of one name at once cannot both create it.
   */
  async import(dto: ImportUsersDto, actor: AuditActor, ip?: string): Promise<ImportResultDto> {
    const reasons: (string | null)[] = [];
    const accepted: { index: number; user: User; profile: string }[] = [];
    const seen = new Set<string>();
    const createdAt = this.clock.now();
    for (const [index, item] of dto.users.entries()) {
      const refusal = this.importRefusal(item, seen);
      reasons.push(typeof refusal === 'string' ? refusal : null);
      if (typeof refusal === 'string') continue;
      const user: User = {
        id: newUserId(),
        username: item.username,
        passwordHash: item.passwordHash,
        roles: refusal.roles,
        disabled: item.disabled ?? false,
        createdAt,
        version: 1,
      };
      accepted.push({ index, user, profile: refusal.profile });
    }
    const profiles = [...new Set(accepted.map((a) => a.profile))];
    // Recorded first: a user of a profile no instance knows of would answer at its own pace.
    await this.store.addHashProfiles(profiles);
    for (let start = 0; start < accepted.length; start += IMPORT_CHUNK) {
      const chunk = accepted.slice(start, start + IMPORT_CHUNK);
      await Promise.all(
        chunk.map(async ({ index, user }) => {
          if (!(await this.store.create(user))) reasons[index] = 'username taken';
        }),
      );
    }
    const skipped = dto.users.flatMap((item, i) => {
      const reason = reasons[i];
      return reason === null ? [] : [{ username: item.username, reason }];
    });
    const created = dto.users.length - skipped.length;
    await this.audit.record({
      type: 'users_imported',
      actor,
      subject: 'users',
      ip,
      detail: importSummary(created, skipped),
    });
    // The users are in: a hasher too busy to time their profiles now leaves that to the next poll.
    await this.calibrate(profiles).catch((error: unknown) => this.warnCalibration(error));
    return { created, skipped };
  }

  /** The user with this name (case-insensitive), whatever their state; null when there is none. */
  findByUsername(username: string): Promise<User | null> {
    return this.store.findByUsername(username);
  }

  async list(limit = 100, cursor = 0): Promise<UserListDto> {
    const page = await this.store.list(limit, cursor);
    return { users: page.users.map(toUserDto), nextCursor: page.nextCursor };
  }

  /** Why an imported user is skipped; else its roles and hash profile. Claims the name in `seen`. */
  private importRefusal(item: ImportedUserDto, seen: Set<string>): string | { roles: string[]; profile: string } {
    if (!USERNAME_PATTERN.test(item.username)) return 'invalid username';
    const name = usernameKey(item.username);
    if (seen.has(name)) return 'duplicate in this import';
    seen.add(name);
    const roles = [...new Set(item.roles ?? ['user'])];
    if (roles.length > MAX_ROLES || !roles.every((role) => ROLE_PATTERN.test(role))) return 'invalid roles';
    const params = parseHash(item.passwordHash);
    if (!params) return 'unsupported hash format';
    return refusalOf(params) ?? { roles, profile: profileName(params) };
  }

  /**
   * Stores the service's own hash of a password just proved against an older one. Compare-and-set
   * (a password changed meanwhile wins), and not a password change: the version stays, so the
   * user's sessions, and the one this login is about to start, live on. A failure costs only
   * the next login another try.
   */
  private async rehash(user: User, password: string): Promise<void> {
    const params = parseHash(user.passwordHash);
    try {
      const replacement = await this.hasher.hash(password);
      if (!(await this.store.replacePasswordHash(user.id, user.passwordHash, replacement))) return;
      await this.audit.record({
        type: 'password_rehashed',
        actor: null,
        subject: user.id,
        detail: `${params ? profileName(params) : 'unknown'} → ${OWN_PROFILE}`,
      });
    } catch (error) {
      this.logger.warn(
        `Could not replace the password hash of user ${user.id}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  /**
   * At start, then at most once a PROFILE_POLL_MS on the way to a login: the hash profiles imported
   * on any instance, the slowest of them timed here (calibrate). Logins that come while it runs
   * wait for it: they are the ones a profile not yet known here would let through at its own pace.
   */
  private async refreshProfiles(): Promise<void> {
    if (!this.profilesRefresh) {
      const now = this.clock.now();
      if (now - this.profilesReadAt < PROFILE_POLL_MS) return;
      this.profilesReadAt = now;
      this.profilesRefresh = this.store
        .hashProfiles()
        .then((profiles) => this.calibrate(profiles))
        .catch((error: unknown) => this.warnCalibration(error))
        .finally(() => (this.profilesRefresh = undefined));
    }
    await this.profilesRefresh;
  }

  private warnCalibration(error: unknown): void {
    const why = error instanceof Error ? error.message : String(error);
    this.logger.warn(`Could not time the imported password hash profiles: ${why}`);
  }

  /** Times the slowest of these profiles that this instance has no fresh figure for, one at a time. */
  private async calibrate(profiles: string[]): Promise<void> {
    const known = profiles.map(parseProfile).filter((p) => p !== null);
    for (const params of slowestProfiles(known)) {
      const profile = profileName(params);
      if (this.hasher.needsCalibration(profile)) await this.hasher.calibrate(profile);
    }
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

/** `created 3, skipped 2 (username taken: 1, bcrypt cost above 14: 1)`: counts only, never a name or hash. */
function importSummary(created: number, skipped: { reason: string }[]): string {
  const byReason = new Map<string, number>();
  for (const { reason } of skipped) byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  const reasons = [...byReason].map(([reason, n]) => `${reason}: ${n}`).join(', ');
  return `created ${created}, skipped ${skipped.length}${reasons ? ` (${reasons})` : ''}`;
}
