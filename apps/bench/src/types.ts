/** One contender's numbers in one benchmark. */
export interface Measurement {
  /** The benchmark, e.g. "command throughput (https, 16 in flight)". */
  benchmark: string;
  /** Who was measured, e.g. "sessionkit CommandClient", "raw undici request()". */
  contender: string;
  /** Unit of `rounds`, e.g. "req/s", "ops/s", "ms", "token requests", "bytes". */
  unit: string;
  /** Whether a larger number is better (throughput) or worse (latency, size). */
  higherIsBetter: boolean;
  /** One number per measured round (after warm-up). */
  rounds: number[];
  /** Marks the contender other ratios are computed against within the benchmark. */
  baseline?: boolean | undefined;
  /** A target on the ratio to the baseline (for example 0.75 for ">= 0.75x raw"), when there is one. */
  targetRatio?: number | undefined;
  /** An absolute target on the median, e.g. `{ op: '<=', value: 2048 }` for a size budget. */
  target?: { op: '<=' | '>='; value: number } | undefined;
  /** Anything a reader needs to know (a peer that could not run, RSS before/after, ...). */
  notes?: string | undefined;
}

/** What a suite gets from the harness. */
export interface BenchmarkContext {
  /** A smoke run: few rounds, small counts, finish fast. */
  quick: boolean;
  /** Progress output for people. */
  log(line: string): void;
}

/** A group of related benchmarks, usually one package's. */
export interface BenchmarkSuite {
  name: string;
  run(context: BenchmarkContext): Promise<Measurement[]>;
}
