"""Fixed-rate HTTP load on loopback: keep-alive connections in threads, latency timed from each request's slot."""

import http.client
import math
import sys
import threading
import time
from collections import Counter


def percentile(sorted_values, fraction):
    """Nearest-rank percentile of an already sorted list; None when it is empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _summary_ms(values):
    ordered = sorted(values)
    return {
        name: (round(percentile(ordered, fraction) * 1000, 2) if ordered else None)
        for name, fraction in (("p50", 0.50), ("p90", 0.90), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
    }


def run_paced(port, build_request, rate, duration, connections=16, timeout=10.0, host="127.0.0.1"):
    """Send rate * duration requests at a fixed rate (open loop); stop at the count or duration + timeout.

    build_request(i) returns (method, path, body bytes or None, headers). Request i is due at
    start + i / rate; its latency runs from that due time, not from when it was sent, so a server
    (or generator) that falls behind shows up as latency instead of silently lowering the rate.
    """
    total = int(rate * duration)
    interval = 1.0 / rate
    slot_lock = threading.Lock()
    next_slot = [0]
    # Request i is due at start + i * interval; the short lead lets every thread be waiting at the start.
    start = time.perf_counter() + 0.2
    deadline = start + duration + timeout
    results = []

    def worker():
        latencies, service_times, send_lags = [], [], []
        statuses = Counter()
        errors = Counter()
        missed = 0
        connection = None
        last_done = start
        while True:
            with slot_lock:
                slot = next_slot[0]
                next_slot[0] += 1
            if slot >= total:
                break
            due = start + slot * interval
            now = time.perf_counter()
            if now >= deadline:
                missed += 1
                continue
            if due > now:
                time.sleep(due - now)
            method, path, body, headers = build_request(slot)
            sent = time.perf_counter()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(host, port, timeout=timeout)
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.will_close:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as error:
                errors[type(error).__name__] += 1
                if connection is not None:
                    connection.close()
                connection = None
                continue
            finished = time.perf_counter()
            last_done = max(last_done, finished)
            statuses[str(response.status)] += 1
            latencies.append(finished - due)
            service_times.append(finished - sent)
            send_lags.append(sent - due)
        if connection is not None:
            connection.close()
        results.append((latencies, service_times, send_lags, statuses, errors, missed, last_done))

    # A short switch interval keeps a thread whose response arrived from waiting long for the GIL.
    previous_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline + 1.0 - time.perf_counter()))
    finally:
        sys.setswitchinterval(previous_interval)

    latencies, service_times, send_lags = [], [], []
    statuses, errors = Counter(), Counter()
    missed = 0
    last_done = start
    for thread_latencies, thread_service, thread_lags, thread_statuses, thread_errors, thread_missed, done in results:
        latencies += thread_latencies
        service_times += thread_service
        send_lags += thread_lags
        statuses.update(thread_statuses)
        errors.update(thread_errors)
        missed += thread_missed
        last_done = max(last_done, done)
    completed = len(latencies)
    elapsed = max(last_done - start, 1e-9)
    return {
        "target_rate": rate,
        "duration_s": duration,
        "connections": connections,
        "scheduled": total,
        "completed": completed,
        "missed_deadline": missed,
        "unfinished_threads": sum(thread.is_alive() for thread in threads),
        "achieved_rate": round(completed / elapsed, 1),
        "statuses": dict(statuses),
        "errors": dict(errors),
        "latency_ms": _summary_ms(latencies),
        "service_time_ms": _summary_ms(service_times),
        "send_lag_ms": _summary_ms(send_lags),
    }
