/** `histogram`: status-code counts per job and level, with optional sample node names. */
import { jobsOrAll, type Handler } from '../apiContext.js';

const MAX_SAMPLES = 10;

export const histogram: Handler<'histogram'> = (args, context) => {
  const samples = Math.min(MAX_SAMPLES, args.num_samples ?? 0);
  const { byJob } = context.histograms();
  const histograms: Record<string, unknown> = {};
  const sampled: Record<string, unknown> = {};
  for (const job of jobsOrAll(args.jobs, context)) {
    const computed = byJob.get(job);
    if (!computed) continue;
    histograms[job] = computed.counts;
    if (samples > 0) {
      sampled[job] = Object.fromEntries(
        Object.entries(computed.samples).map(([level, codes]) => [
          level,
          Object.fromEntries(Object.entries(codes).map(([code, names]) => [code, names.slice(0, samples)])),
        ]),
      );
    }
  }
  return samples > 0 ? { histograms, samples: sampled } : { histograms };
};
