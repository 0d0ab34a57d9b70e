import type { Measurement } from './types.js';

/** One contender's numbers, summarised. */
export interface Row {
  benchmark: string;
  contender: string;
  unit: string;
  median: number;
  min: number;
  max: number;
  rounds: number;
  /** Median over the baseline's median, when the benchmark has a baseline. */
  ratio: number | undefined;
  /** `met`, `missed`, or undefined when there is no target. */
  verdict: 'met' | 'missed' | undefined;
  targetText: string;
  notes: string;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? Number.NaN) + upper) / 2;
}

/** Median, min, max, ratio to the benchmark's baseline, and the verdict on any target. */
export function summarise(measurements: readonly Measurement[]): Row[] {
  const baselines = new Map<string, number>();
  for (const measurement of measurements) {
    if (measurement.baseline === true) baselines.set(measurement.benchmark, median(measurement.rounds));
  }
  return measurements.map((measurement) => {
    const value = median(measurement.rounds);
    const base = baselines.get(measurement.benchmark);
    const ratio = base === undefined || measurement.baseline === true || base === 0 ? undefined : value / base;
    const checks: boolean[] = [];
    const targetParts: string[] = [];
    if (measurement.targetRatio !== undefined && ratio !== undefined) {
      const better = measurement.higherIsBetter ? ratio >= measurement.targetRatio : ratio <= measurement.targetRatio;
      checks.push(better);
      targetParts.push(`${measurement.higherIsBetter ? '≥' : '≤'} ${measurement.targetRatio}× baseline`);
    }
    if (measurement.target !== undefined) {
      const { op, value: limit } = measurement.target;
      checks.push(op === '<=' ? value <= limit : value >= limit);
      targetParts.push(`${op === '<=' ? '≤' : '≥'} ${formatNumber(limit)} ${measurement.unit}`);
    }
    return {
      benchmark: measurement.benchmark,
      contender: measurement.contender,
      unit: measurement.unit,
      median: value,
      min: measurement.rounds.length === 0 ? Number.NaN : Math.min(...measurement.rounds),
      max: measurement.rounds.length === 0 ? Number.NaN : Math.max(...measurement.rounds),
      rounds: measurement.rounds.length,
      ratio,
      verdict: checks.length === 0 ? undefined : checks.every(Boolean) ? 'met' : 'missed',
      targetText: targetParts.join(', '),
      notes: measurement.notes ?? '',
    };
  });
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const magnitude = Math.abs(value);
  if (magnitude >= 1000) return Math.round(value).toLocaleString('en-US');
  if (magnitude >= 100) return value.toFixed(0);
  if (magnitude >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function cells(row: Row): string[] {
  return [
    row.contender,
    `${formatNumber(row.median)} ${row.unit}`,
    formatNumber(row.min),
    formatNumber(row.max),
    row.ratio === undefined ? (row.rounds > 0 ? '—' : '') : `${row.ratio.toFixed(2)}×`,
    row.targetText === '' ? '' : `${row.targetText}: ${row.verdict ?? 'n/a'}`,
  ];
}

const HEADER = ['contender', 'median', 'min', 'max', 'ratio', 'target'];

/** A plain-text table per benchmark, for the terminal. */
export function formatTable(rows: readonly Row[]): string {
  const lines: string[] = [];
  for (const benchmark of [...new Set(rows.map((row) => row.benchmark))]) {
    const group = rows.filter((row) => row.benchmark === benchmark);
    const table = [HEADER, ...group.map(cells)];
    const widths = HEADER.map((_, column) => Math.max(...table.map((line) => (line[column] ?? '').length)));
    lines.push('', benchmark);
    for (const line of table) lines.push(`  ${line.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()}`);
    for (const row of group) if (row.notes !== '') lines.push(`  note (${row.contender}): ${row.notes}`);
  }
  return lines.join('\n');
}

/** The same tables in Markdown, for the README. */
export function formatMarkdown(rows: readonly Row[], heading: string): string {
  const lines = [`# ${heading}`, ''];
  for (const benchmark of [...new Set(rows.map((row) => row.benchmark))]) {
    const group = rows.filter((row) => row.benchmark === benchmark);
    lines.push(`## ${benchmark}`, '', `| ${HEADER.join(' | ')} |`, `| ${HEADER.map(() => '---').join(' | ')} |`);
    for (const row of group) lines.push(`| ${cells(row).join(' | ')} |`);
    const notes = group.filter((row) => row.notes !== '');
    if (notes.length > 0) lines.push('', ...notes.map((row) => `- ${row.contender}: ${row.notes}`));
    lines.push('');
  }
  return lines.join('\n');
}
