# hivemail: `make run` starts a demo server, `make test` runs every test.
# Both work on a fresh Debian machine with nothing installed beforehand.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= hivemail-data

# Debian packages the tests drive as real peers (and Dovecot, the reference);
# PostgreSQL's server for the second backend (tests/support/postgres.py runs
# a throwaway cluster of its own; the package's own cluster is not used).
TEST_DEBS := dovecot-imapd dovecot-pop3d dovecot-lmtpd isync offlineimap3 \
             fetchmail getmail6 neomutt tmux openssl postgresql

.PHONY: run test test-fast bench soak fuzz deps-system clean

$(VENV)/.stamp-run: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e .
	touch $@

$(VENV)/.stamp-test: pyproject.toml $(VENV)/.stamp-run
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

run: $(VENV)/.stamp-run
	$(BIN)/hivemail --data $(DATA) serve --demo

deps-system:
	@missing=$$(for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Every test on the embedded store, then the protocol suites again with the
# servers on PostgreSQL (a throwaway cluster the tests start; issue 9).
PG_SUITES := tests/e2e tests/transcripts tests/clients tests/golden tests/dovecot_compare tests/consistency tests/soak
test: deps-system $(VENV)/.stamp-test
	$(BIN)/pytest -q -n 2 --dist loadgroup
	$(BIN)/pytest -q -n 2 --dist loadgroup --backend postgresql $(PG_SUITES)

# The unit and property tests alone: seconds, no servers.
test-fast: $(VENV)/.stamp-test
	$(BIN)/pytest -q tests/unit tests/property

# hivemail against a private Dovecot (installed by deps-system), one table,
# written to bench/RESULTS.md; about 15 min. `make bench BENCH_ARGS=--quick`
# for a short run that writes nothing (see bench/README.md).
bench: deps-system $(VENV)/.stamp-test
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

# Every `slow` test, long: the crash soak (tests/soak: SIGKILL under LMTP +
# IMAP load, SOAK_SECONDS and at least SOAK_KILLS kills) and the consistency
# checker (tests/consistency: CONSISTENCY_CLIENTS clients on one mailbox for
# CONSISTENCY_SECONDS) run side by side; -rP prints their summary lines.
# tests/soak/RESULTS.md records one run.
SOAK_SECONDS ?= 630
SOAK_KILLS ?= 110
CONSISTENCY_SECONDS ?= 300
CONSISTENCY_CLIENTS ?= 6
soak: deps-system $(VENV)/.stamp-test
	HIVEMAIL_SOAK=1 HIVEMAIL_SOAK_SECONDS=$(SOAK_SECONDS) HIVEMAIL_SOAK_KILLS=$(SOAK_KILLS) \
	HIVEMAIL_CONSISTENCY_SECONDS=$(CONSISTENCY_SECONDS) HIVEMAIL_CONSISTENCY_CLIENTS=$(CONSISTENCY_CLIENTS) \
	$(BIN)/pytest -q -m slow -n 2 --dist loadgroup -rP $(SOAK_ARGS)

# Time-boxed fuzzing of the IMAP/POP3/SMTP/LMTP cores, MIME analysis and
# modified UTF-7 (tests/fuzz): atheris if installed, else Hypothesis; the
# last line is a summary. `make fuzz FUZZ_SECONDS=3600 FUZZ_ENGINE=hypothesis`.
FUZZ_SECONDS ?= 300
FUZZ_ENGINE  ?= auto
fuzz: $(VENV)/.stamp-test
	$(BIN)/python -m tests.fuzz --seconds $(FUZZ_SECONDS) --engine $(FUZZ_ENGINE)

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .hypothesis
