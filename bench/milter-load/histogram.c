/* milter-load: fixed-size log-linear latency histogram (microseconds), mergeable by addition. */
#include "milter-load.h"

static int bucket_of(uint64_t us) {
  if (us < HIST_EXACT) return (int)us;
  int msb = 63 - __builtin_clzll(us);
  int shift = msb - 9; /* us >> shift lies in [512, 1023] */
  int index = HIST_EXACT + (shift - 1) * HIST_SUB + (int)((us >> shift) - HIST_SUB);
  return index < HIST_BUCKETS ? index : HIST_BUCKETS - 1;
}

/* Middle of a bucket's range. */
static uint64_t value_of(int index) {
  if (index < HIST_EXACT) return (uint64_t)index;
  int shift = (index - HIST_EXACT) / HIST_SUB + 1;
  uint64_t low = (uint64_t)((index - HIST_EXACT) % HIST_SUB + HIST_SUB) << shift;
  return low + ((1ULL << shift) >> 1);
}

void hist_record(struct hist *h, uint64_t us) {
  h->count++;
  h->sum_us += us;
  if (us > h->max_us) h->max_us = us;
  h->buckets[bucket_of(us)]++;
}

void hist_merge(struct hist *into, const struct hist *from) {
  into->count += from->count;
  into->sum_us += from->sum_us;
  if (from->max_us > into->max_us) into->max_us = from->max_us;
  for (int i = 0; i < HIST_BUCKETS; i++) into->buckets[i] += from->buckets[i];
}

uint64_t hist_quantile(const struct hist *h, double q) {
  if (h->count == 0) return 0;
  /* The rank of the q-quantile, 1-based: p99 of 1000 samples is the 990th smallest. */
  uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (int i = 0; i < HIST_BUCKETS; i++) {
    seen += h->buckets[i];
    if (seen >= rank) {
      uint64_t v = value_of(i);
      return v > h->max_us ? h->max_us : v;
    }
  }
  return h->max_us;
}
