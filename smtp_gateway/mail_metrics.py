"""Outbound mail's Prometheus counters: what was sent, what bounced, what was complained
about, per sending domain.

The counters are per process, like every Prometheus counter: each node exposes its own
series (told apart by the scrape's ``instance`` label), they start at zero when a process
starts, and ``rate()``/``increase()`` treat that drop as a counter reset. Each event is
counted by the process that committed it, once that commit is on disk, so summing the
nodes' rates counts every event once (an attempt repeated after a crash is counted again:
it was a second attempt). The ``domain`` label is the sending domain, which submission
checks confine to the server's own domains, so the number of series stays bounded.

- ``fulmar_outbound_messages_total{domain,result}``: each recipient of each delivery
  attempt: ``delivered`` (2xx, or filed locally), ``deferred`` (4xx or no connection:
  tried again later), ``failed`` (5xx, or given up), ``suppressed`` (not sent: the address
  is on the account's suppression list).
- ``fulmar_bounces_total{domain,kind}``: each recipient that ended undelivered, counted
  once: ``hard`` for a permanent failure (a 5.x.x status, at SMTP time or in a DSN that
  came back later), ``soft`` for a temporary one that never cleared (given up after
  retries, 4.4.7, or a failed DSN with a 4.x.x status).
- ``fulmar_complaints_total{domain}``: ARF reports of type abuse, fraud or virus matched
  to one of our messages (``smtp_gateway.feedback``).
"""

from __future__ import annotations

from prometheus_client import Counter
from prometheus_client.registry import Collector


class MailMetrics:
    def __init__(self) -> None:
        self.outbound = Counter(
            "fulmar_outbound_messages_total",
            "Outbound recipients per delivery attempt, by sending domain and result.",
            ["domain", "result"],
            registry=None,
        )
        self.bounces = Counter(
            "fulmar_bounces_total",
            "Recipients that ended undelivered, by sending domain and kind (hard, soft).",
            ["domain", "kind"],
            registry=None,
        )
        self.complaints = Counter(
            "fulmar_complaints_total",
            "Complaints (ARF abuse, fraud, virus) about our mail, by sending domain.",
            ["domain"],
            registry=None,
        )

    def collectors(self) -> tuple[Collector, ...]:
        return (self.outbound, self.bounces, self.complaints)

    def bounced(self, domain: str, status: str) -> None:
        self.bounces.labels(domain, "hard" if status.startswith("5") else "soft").inc()


def sending_domain(address: str) -> str:
    return address.rpartition("@")[2].lower() or "none"


#: the process's counters; the server's registry (``jmap.observability.Metrics``) exposes them
MAIL_METRICS = MailMetrics()
