// LatencyHistogram: Prometheus's histogram exposition (cumulative buckets, le inclusive, +Inf, sum, count) per series.
import { LatencyHistogram } from '../../../src/ops/latency-histogram';

test('each (backend, operation) pair is a series with cumulative buckets; a value on a bound falls in that bucket', () => {
  const histogram = new LatencyHistogram('test_seconds', 'Test latency', [0.001, 0.01, 0.1]);
  histogram.observe('level', 'add', 0.0005);
  histogram.observe('level', 'add', 0.001);
  histogram.observe('level', 'add', 0.05);
  histogram.observe('level', 'add', 3);
  histogram.observe('level', 'get', 0.02);
  expect(histogram.text().split('\n')).toEqual([
    '# HELP test_seconds Test latency',
    '# TYPE test_seconds histogram',
    'test_seconds_bucket{le="0.001",backend="level",operation="add"} 2',
    'test_seconds_bucket{le="0.01",backend="level",operation="add"} 2',
    'test_seconds_bucket{le="0.1",backend="level",operation="add"} 3',
    'test_seconds_bucket{le="+Inf",backend="level",operation="add"} 4',
    'test_seconds_sum{backend="level",operation="add"} 3.0515',
    'test_seconds_count{backend="level",operation="add"} 4',
    'test_seconds_bucket{le="0.001",backend="level",operation="get"} 0',
    'test_seconds_bucket{le="0.01",backend="level",operation="get"} 0',
    'test_seconds_bucket{le="0.1",backend="level",operation="get"} 1',
    'test_seconds_bucket{le="+Inf",backend="level",operation="get"} 1',
    'test_seconds_sum{backend="level",operation="get"} 0.02',
    'test_seconds_count{backend="level",operation="get"} 1',
    '',
  ]);
});

test('without calls only the HELP and TYPE lines; bounds must ascend', () => {
  expect(new LatencyHistogram('test_seconds', 'h', [1]).text()).toBe('# HELP test_seconds h\n# TYPE test_seconds histogram\n');
  expect(() => new LatencyHistogram('test_seconds', 'h', [0.1, 0.1])).toThrow(/ascending/);
  expect(() => new LatencyHistogram('test_seconds', 'h', [0.1, Infinity])).toThrow(/finite/);
});

test('label values are escaped as the text format asks', () => {
  const histogram = new LatencyHistogram('test_seconds', 'h', [1]);
  histogram.observe('a"b\\c', 'add', 0.5);
  expect(histogram.text()).toContain('test_seconds_count{backend="a\\"b\\\\c",operation="add"} 1');
});
