#!/usr/bin/env python3
"""check_metrics.py — checks a GET /metrics page with Prometheus's own parser.

    check_metrics.py [--redis-down] PAGE [NAME{LABELS}=VALUE ...]

PAGE is a file holding the page. The page must parse
(prometheus_client.parser.text_string_to_metric_families), hold every family
jobq documents, and every histogram must be whole: buckets cumulative
(never decreasing with le), ending with le="+Inf", which equals _count.
Each further argument is a sample that must be on the page with exactly
that value, written as on the page, labels in any order:
    'jobq_jobs_submitted_total{queue="default",task="profile"}=3'
A sample written with VALUE ">=N" must be at least N. With --redis-down
the cluster-wide families (read from Redis) must be absent instead.

Exits 0 when all holds; otherwise prints what does not, and exits 1.
"""
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

CLUSTER = {"jobq_queue_jobs", "jobq_jobs_running", "jobq_jobs_finished",
           "jobq_job_duration_seconds"}

FAMILIES = {
    "jobq_http_requests": "counter",
    "jobq_http_request_duration_seconds": "histogram",
    "jobq_upload_bytes": "counter",
    "jobq_jobs_submitted": "counter",
    "jobq_jobs_rejected": "counter",
    "jobq_redis_errors": "counter",
    "jobq_redis_circuit_open": "gauge",
    "jobq_redis_scrape_ok": "gauge",
    "jobq_queue_jobs": "gauge",
    "jobq_jobs_running": "gauge",
    "jobq_jobs_finished": "counter",
    "jobq_job_duration_seconds": "histogram",
}


def key(name, labels):
    return (name, tuple(sorted(labels.items())))


def histogram_problems(family):
    """Returns what is wrong with the histogram family's series."""
    series = {}
    for s in family.samples:
        labels = {k: v for k, v in s.labels.items() if k != "le"}
        entry = series.setdefault(tuple(sorted(labels.items())), {"buckets": []})
        if s.name.endswith("_bucket"):
            entry["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name.endswith("_count"):
            entry["count"] = s.value
    problems = []
    for labels, e in series.items():
        b = e["buckets"]
        where = "%s%s" % (family.name, dict(labels))
        if [le for le, _ in b] != sorted(le for le, _ in b):
            problems.append(where + ": buckets out of order")
        if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            problems.append(where + ": buckets not cumulative: %r" % b)
        if not b or b[-1][0] != float("inf") or b[-1][1] != e.get("count"):
            problems.append(where + ": le=+Inf is not _count (%r vs %r)" % (b[-1:], e.get("count")))
    return problems


def parse_expectation(text):
    m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?=(>=)?([0-9.eE+-]+)', text)
    if m is None:
        raise SystemExit("check_metrics: cannot read expectation %r" % text)
    labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
    return key(m.group(1), labels), m.group(4) is not None, float(m.group(5))


def main(argv):
    redis_down = argv[1] == "--redis-down"
    if redis_down:
        argv = argv[:1] + argv[2:]
    with open(argv[1], encoding="utf-8") as f:
        families = list(text_string_to_metric_families(f.read()))
    problems, samples = [], {}
    types = {fam.name: fam.type for fam in families}
    for name, kind in FAMILIES.items():
        if redis_down and name in CLUSTER:
            if name in types:
                problems.append("family %s: present though Redis is down" % name)
        elif types.get(name) != kind:
            problems.append("family %s: want type %s, got %s" % (name, kind, types.get(name)))
    for fam in families:
        if fam.type == "histogram":
            problems += histogram_problems(fam)
        for s in fam.samples:
            samples[key(s.name, s.labels)] = s.value
    for text in argv[2:]:
        k, at_least, want = parse_expectation(text)
        got = samples.get(k)
        if got is None or (got < want if at_least else got != want):
            problems.append("%s: got %s" % (text, got))
    for p in problems:
        print("check_metrics: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
