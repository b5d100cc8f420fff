import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import type { StatsHistory } from './api';

const MINUTE_S = 60;
const HOUR_MINUTES = 60;
const HEIGHT = 260;
const INTEGER_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000];

/**
 * The last hour as one column per minute: a minute without a sample is null, which uPlot draws as
 * a gap (no instance was running then, so there is nothing to show, not a zero).
 */
export function toColumns(history: StatsHistory, now = Date.now()): uPlot.AlignedData {
  const step = history.intervalSeconds || MINUTE_S;
  const bySecond = new Map(history.samples.map((sample) => [Math.floor(Date.parse(sample.at) / 1000), sample]));
  const lastSample = Math.max(0, ...bySecond.keys());
  const lastFull = Math.floor(now / 1000 / step) * step - step;
  const end = Math.max(lastSample, lastFull);
  const times: number[] = [];
  const live: (number | null)[] = [];
  const succeeded: (number | null)[] = [];
  const failed: (number | null)[] = [];
  for (let at = end - (HOUR_MINUTES - 1) * step; at <= end; at += step) {
    const sample = bySecond.get(at);
    times.push(at);
    live.push(sample ? sample.liveSessions : null);
    succeeded.push(sample ? sample.loginsSucceeded : null);
    failed.push(sample ? sample.loginsFailed : null);
  }
  return [times, live, succeeded, failed];
}

function fromZero(_plot: uPlot, _min: number, max: number): uPlot.Range.MinMax {
  return [0, Math.max(4, Math.ceil(max * 1.1))];
}

function options(width: number): uPlot.Options {
  return {
    width,
    height: HEIGHT,
    scales: { x: { time: true }, sessions: { range: fromZero }, logins: { range: fromZero } },
    series: [
      { label: 'Time' },
      { label: 'Live sessions', scale: 'sessions', stroke: '#1d4ed8', width: 2 },
      { label: 'Logins succeeded', scale: 'logins', stroke: '#15803d', width: 2 },
      { label: 'Logins failed', scale: 'logins', stroke: '#b91c1c', width: 2, dash: [6, 4] },
    ],
    axes: [
      { stroke: '#333' },
      { scale: 'sessions', label: 'Live sessions', stroke: '#1d4ed8', incrs: INTEGER_STEPS },
      {
        scale: 'logins',
        label: 'Logins per minute',
        side: 1,
        stroke: '#333',
        grid: { show: false },
        incrs: INTEGER_STEPS,
      },
    ],
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
  };
}

/** The history as a uPlot chart that follows its box's width. The same data is in a table beside it. */
export function HistoryChart(props: { history: StatsHistory }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const chart = new uPlot(options(Math.max(240, element.clientWidth)), toColumns(props.history), element);
    plot.current = chart;
    const resize = new ResizeObserver(() =>
      chart.setSize({ width: Math.max(240, element.clientWidth), height: HEIGHT }),
    );
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // Created once; new data goes through setData below.
  }, []);

  useEffect(() => {
    plot.current?.setData(toColumns(props.history));
  }, [props.history]);

  return <div ref={box} class="chart" aria-hidden="true" />;
}
