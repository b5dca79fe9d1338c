# Monitoring (issue 13): federation metrics, dashboards and alerts as code, tested against a REAL Prometheus.
# Debian's `prometheus` package brings prometheus and promtool (2.42); installed only when missing, and
# no service is started (the tests start their own, in a temp dir, on a random port).
.PHONY: monitoring-deps monitoring-generate monitoring-tests

PROMTOOL ?= $(shell command -v promtool 2>/dev/null)

monitoring-deps: ## install Prometheus + promtool (Debian package) when missing
	@if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  $$SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true; \
	fi
	@promtool --version | head -1

monitoring-generate: venv ## write the chart's dashboards and PrometheusRule from flarekube/observability
	$(BIN)/python -m flarekube.observability.generate

# promtool check/test rules and every panel and alert evaluated by a real Prometheus scraping `flarekube run`.
monitoring-tests: venv monitoring-deps
	$(BIN)/pytest -q tests/monitoring
