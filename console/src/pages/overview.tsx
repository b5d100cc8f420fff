import { useRef, useState } from 'preact/hooks';
import { api, call, describeError, statsHistory, type SessionStats, type StatsHistory } from '../api';
import { Alert, PageHeading, TableBox } from '../components';
import { formatClock, formatCount, formatMinute } from '../format';
import { HistoryChart } from '../history-chart';
import { usePolling } from '../polling';

const STATS_EVERY_MS = 5_000;
const HISTORY_EVERY_MS = 60_000;

export function OverviewPage() {
  const [stats, setStats] = useState<SessionStats>();
  const statsRef = useRef(stats);
  statsRef.current = stats;
  const [statsAt, setStatsAt] = useState<Date>();
  const [statsError, setStatsError] = useState<string>();
  const [history, setHistory] = useState<StatsHistory>();
  const [historyError, setHistoryError] = useState<string>();

  usePolling(async () => {
    try {
      setStats(await call(() => api.GET('/admin/sessions/stats')));
      setStatsAt(new Date());
      setStatsError(undefined);
    } catch (error) {
      const stale = statsRef.current ? ' The figures below are from the last successful refresh.' : '';
      setStatsError(`${describeError(error)}${stale}`);
    }
  }, STATS_EVERY_MS);

  usePolling(async () => {
    try {
      setHistory(await statsHistory());
      setHistoryError(undefined);
    } catch (error) {
      setHistoryError(`The last hour could not be loaded. ${describeError(error)}`);
    }
  }, HISTORY_EVERY_MS);

  const roles = stats ? Object.entries(stats.byRole).sort(([a], [b]) => a.localeCompare(b)) : [];

  return (
    <>
      <PageHeading>Overview</PageHeading>
      <Alert message={statsError ?? historyError} />
      {stats ? (
        <>
          <dl class="figures">
            <div>
              <dt>Live sessions</dt>
              <dd>{formatCount(stats.total)}</dd>
            </div>
            <div>
              <dt>Active in the last 5 minutes</dt>
              <dd>{formatCount(stats.activeLast5m)}</dd>
            </div>
            <div>
              <dt>Active in the last 15 minutes</dt>
              <dd>{formatCount(stats.activeLast15m)}</dd>
            </div>
          </dl>
          <p class="muted">
            Refreshed every 5 seconds while this tab is shown
            {statsAt ? (
              <>
                ; last at <time dateTime={statsAt.toISOString()}>{formatClock(statsAt)}</time>
              </>
            ) : null}
            .
          </p>
          <h2>Sessions per role</h2>
          {roles.length === 0 ? (
            <p>No live sessions. They appear here as soon as someone signs in.</p>
          ) : (
            <dl class="figures roles">
              {roles.map(([role, n]) => (
                <div key={role}>
                  <dt>{role}</dt>
                  <dd>{formatCount(n)}</dd>
                </div>
              ))}
            </dl>
          )}
        </>
      ) : statsError ? null : (
        <p aria-busy="true">Loading the figures…</p>
      )}
      <h2>Last hour</h2>
      {history ? <History history={history} /> : historyError ? null : <p aria-busy="true">Loading the last hour…</p>}
    </>
  );
}

function History(props: { history: StatsHistory }) {
  const samples = [...props.history.samples].reverse();
  return (
    <figure class="history">
      <figcaption>
        Live sessions (left scale) and logins succeeded and failed per minute (right scale, failed dashed) over the last
        hour, refreshed every minute. Gaps are minutes when no instance of the service was recording.
      </figcaption>
      {samples.length === 0 ? (
        <p>No samples yet: the service records one each minute, so the chart fills in as minutes pass.</p>
      ) : (
        <HistoryChart history={props.history} />
      )}
      <details>
        <summary>Chart data as a table</summary>
        {samples.length === 0 ? (
          <p>No samples yet.</p>
        ) : (
          <TableBox label="Chart data">
            <table>
              <caption>One row per recorded minute, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Minute</th>
                  <th scope="col" class="number">
                    Live sessions
                  </th>
                  <th scope="col" class="number">
                    Logins succeeded
                  </th>
                  <th scope="col" class="number">
                    Logins failed
                  </th>
                </tr>
              </thead>
              <tbody>
                {samples.map((sample) => (
                  <tr key={sample.at}>
                    <th scope="row">
                      <time dateTime={sample.at}>{formatMinute(sample.at)}</time>
                    </th>
                    <td class="number">{formatCount(sample.liveSessions)}</td>
                    <td class="number">{formatCount(sample.loginsSucceeded)}</td>
                    <td class="number">{formatCount(sample.loginsFailed)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        )}
      </details>
    </figure>
  );
}
