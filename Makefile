# hivemail: `make run` starts a demo server, `make test` runs every test.
# Both work on a fresh Debian machine with nothing installed beforehand.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= hivemail-data

# Debian packages the tests drive as real peers (and Dovecot, the reference).
TEST_DEBS := dovecot-imapd dovecot-pop3d dovecot-lmtpd isync offlineimap3 \
             fetchmail getmail6 neomutt tmux openssl

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

test: deps-system $(VENV)/.stamp-test
	$(BIN)/pytest -q -n 2 --dist loadgroup

# The unit and property tests alone: seconds, no servers.
test-fast: $(VENV)/.stamp-test
	$(BIN)/pytest -q tests/unit tests/property

bench: deps-system $(VENV)/.stamp-test
	$(BIN)/python bench/run_all.py

soak: deps-system $(VENV)/.stamp-test
	HIVEMAIL_SOAK=1 $(BIN)/pytest -q -m slow

fuzz: $(VENV)/.stamp-test
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q tests/property

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .hypothesis
