# The closed loop, end to end on one model (included by the main Makefile, which defines YARD).
# Its own state dir (fresh every run, so every run tells the same story) beside the user's;
# the datasets `make install` unpacked are shared. Logs land in files every 2 s, not every minute.

LOOP_STATE ?= .modelyard/loop-demo
LOOP_ARGS  ?=
LOOP_ENV   := MODELYARD_STATE_DIR=$(LOOP_STATE) MODELYARD_SOURCES_DIR=$(CURDIR)/.modelyard/sources \
              MODELYARD_DATA_DIR=$(CURDIR)/.modelyard/data \
              MODELYARD_PAYLOAD_FILE_AGE_S=2

.PHONY: loop-demo

loop-demo: install ## Moderation: serve, drift (a new spam campaign), labels, retrain, canary, promote/roll back
	rm -rf $(LOOP_STATE)
	$(LOOP_ENV) $(YARD) data prepare spamassassin
	$(LOOP_ENV) $(YARD) train moderation --smoke
	$(LOOP_ENV) $(YARD) serve --models moderation --detach
	$(LOOP_ENV) $(YARD) simulate moderation --drift campaign $(LOOP_ARGS); \
	  status=$$?; $(LOOP_ENV) $(YARD) serve stop; exit $$status
