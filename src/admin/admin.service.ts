import { BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import { AuditActor, AuditService } from '../audit/audit.service';
import { isoTime } from '../common/iso-time';
import { SessionHandle } from '../session/session-ids';
import { SessionService } from '../session/session.service';
import { decodeCursor, pageInMemory, SessionRecord } from '../session/session-store';
import { RevokedDto } from '../auth/auth.dto';
import { MINUTE_MS, StatsHistory } from '../stats/stats-history.service';
import {
  AdminSessionDto,
  AdminSessionListDto,
  AdminSessionPageDto,
  AuditPageDto,
  AuditQueryDto,
  SessionPageQueryDto,
  SessionStatsDto,
  StatsHistoryDto,
} from './admin.dto';

const RECENT = 100;

/** The admin's view of every session, and the audit log. */
@Injectable()
export class AdminService {
  constructor(
    private readonly sessions: SessionService,
    private readonly audit: AuditService,
    private readonly statsHistory: StatsHistory,
  ) {}

  async stats(): Promise<SessionStatsDto> {
    const [stats, recent] = await Promise.all([this.sessions.stats(), this.sessions.page(RECENT)]);
    return {
      ...stats,
      recentSessions: recent.sessions.map((s) => ({
        id: s.handle.publicId,
        userId: s.handle.userId,
        username: s.username,
        lastActivityAt: isoTime(s.lastActivityAt),
      })),
    };
  }

  async page(query: SessionPageQueryDto): Promise<AdminSessionPageDto> {
    const limit = query.limit ?? 50;
    if (query.cursor !== undefined && !decodeCursor(query.cursor)) {
      throw new BadRequestException('cursor must be a value returned as nextCursor');
    }
    if (query.userId === undefined) {
      const page = await this.sessions.page(limit, query.cursor);
      return { sessions: page.sessions.map((s) => this.toDto(s)), nextCursor: page.nextCursor };
    }
    // One user's sessions are few: read them all (O(that user's sessions)) and page in memory.
    const page = pageInMemory(await this.sessions.listForUser(query.userId), limit, query.cursor);
    return { sessions: page.sessions.map((s) => this.toDto(s)), nextCursor: page.nextCursor };
  }

  async userSessions(userId: string): Promise<AdminSessionListDto> {
    const sessions = await this.sessions.listForUser(userId);
    return { sessions: sessions.map((s) => this.toDto(s)) };
  }

  async revoke(handle: SessionHandle, actor: AuditActor, ip?: string): Promise<RevokedDto> {
    if (!(await this.sessions.revoke(handle))) throw new NotFoundException('Session not found');
    await this.audit.record({ type: 'session_revoked', actor, subject: handle.publicId, ip, detail: 'by an admin' });
    return { revoked: 1 };
  }

  async revokeUser(userId: string, actor: AuditActor, ip?: string): Promise<RevokedDto> {
    const ended = await this.sessions.revokeForUser(userId);
    await this.audit.recordEach(
      { type: 'session_revoked', actor, ip, detail: 'by an admin (all of the user)' },
      ended.map((h) => h.publicId),
    );
    return { revoked: ended.length };
  }

  auditLog(query: AuditQueryDto): Promise<AuditPageDto> {
    return this.audit.list(query.limit ?? 100, query.cursor, { type: query.type, userId: query.userId });
  }

  async history(): Promise<StatsHistoryDto> {
    const samples = await this.statsHistory.lastHour();
    return {
      intervalSeconds: MINUTE_MS / 1000,
      samples: samples.map(({ minute, ...counts }) => ({ at: isoTime(minute * MINUTE_MS), ...counts })),
    };
  }

  private toDto(s: SessionRecord): AdminSessionDto {
    return {
      id: s.handle.publicId,
      userId: s.handle.userId,
      username: s.username,
      roles: s.roles,
      deviceId: s.deviceId,
      userAgent: s.userAgent,
      browser: s.browser,
      os: s.os,
      ip: s.ip,
      createdAt: isoTime(s.createdAt),
      lastActivityAt: isoTime(s.lastActivityAt),
      expiresAt: isoTime(this.sessions.expiresAt(s)),
      requestCount: this.sessions.requestCount(s),
      authenticatedAt: s.authenticatedAt === null ? null : isoTime(s.authenticatedAt),
      suspicion: s.suspicion,
      impersonatedBy: s.impersonatedBy,
    };
  }
}
