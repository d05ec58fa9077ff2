# The two set-up commands are `make demo` and `make test`; everything else they need is built here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# the Blender (a bpy venv's Python) that the demo and the benchmarks run in
BPY_PYTHON := .venv-bpy-4.5/bin/python
APT_PACKAGES := espeak-ng libespeak-ng1 flite libflite1 festival festvox-kdlpc16k festvox-italp16k festvox-itapc16k \
	festvox-czech-dita festvox-czech-krb festvox-czech-machac festvox-czech-ph festvox-suopuhe-lj \
	festvox-suopuhe-mv festvox-ru sox

.PHONY: demo head test test-fast bench apt venv
.DEFAULT_GOAL := test

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[train,dev]'
	touch $@

venv: apt $(VENV)/stamp

test: venv .venv-bpy-4.5/stamp
	$(BIN)/python -m pytest -q tests
	$(MAKE) test-blender

# The edit-run loop: no dataset synthesis, training, rendering or Blender (README, Development).
test-fast: venv
	$(BIN)/python -m pytest -q -m "not slow and not blender" tests

demo: venv .venv-bpy-4.5/stamp
	$(BIN)/python -m demo --bpy-python $(BPY_PYTHON) --checkpoint a2f_core/models/default_weights.safetensors

# The scanned demo head alone as a .blend (skin with ARKit shape keys; teeth, tongue, eyes,
# lashes as its children), for trying the add-on on it.
head: .venv-bpy-4.5/stamp
	mkdir -p demo_out
	.venv-bpy-4.5/bin/python demo/blender_head.py -- --out demo_out/head.blend

bench: venv .venv-bpy-4.5/stamp
	BPY_PYTHON=$(BPY_PYTHON) $(BIN)/python -m bench.run

# --- Blender add-on (docs/blender.md) -------------------------------------------------------
# One venv per supported Blender, each holding only the PyPI `bpy` module (which brings numpy)
# and pytest: no soundfile/soxr, so they behave like Blender's own Python.
BPY_PIN_4.2 := 4.2.23
BPY_PIN_4.5 := 4.5.15
BPY_PIN_5.0 := 5.0.1
BPY_SERIES := 4.2 4.5 5.0

.PHONY: bpy-venvs test-blender addon
.PRECIOUS: .venv-bpy-%/stamp

.venv-bpy-%/stamp:
	$(PYTHON) -m venv .venv-bpy-$*
	.venv-bpy-$*/bin/pip install -q "bpy==$(BPY_PIN_$*)" "pytest>=7.4"
	touch $@

bpy-venvs: $(foreach s,$(BPY_SERIES),.venv-bpy-$(s)/stamp)

# Runs tests/blender under every Blender; pytest's exit code 5 (nothing collected) is a failure.
test-blender: bpy-venvs
	@for s in $(BPY_SERIES); do \
	  echo "== tests/blender on bpy $$s"; \
	  .venv-bpy-$$s/bin/python -m pytest -q --confcutdir=tests/blender tests/blender || exit 1; \
	done

addon:
	$(PYTHON) build_addon.py

# --- bundled default models (docs/results.md, "Default models") --------------------------------------
# Rebuilds a2f_core/models/default_{weights,vertices}.safetensors from scratch with fixed seeds:
# synthesise -> train -> mine emotions -> release (float16) -> evaluate on held-out voices; the
# weights model's lip contact head and its detector are trained on the released network, the one
# that ships, before its evaluation.
# The weights model trains in four stages: 12000 steps on the set's first 300 minutes, then 8000
# and 4000 more (each a warm restart from the last) on all 600 (new speech, the same held-out
# voices): new speech is what improves lip contact (docs/notes/training-experiments.md, "More data"). The fourth,
# 4000 steps more from the third's release (its mined emotions seed the labelled takes), adds
# `contact_loss`, which teaches the hidden layer where the lips touch (docs/notes/training-experiments.md,
# "Contact loss").
# The vertex model learns the demo head's skin (the ICT scan, 14,062 vertices; about 300 MB of
# targets per minute of audio, 9 GB for its 30 minutes).
# The last checkpoint ships, not best: validation animates every take with the table's mean
# emotion, which cannot judge emotional takes, and the learning-rate ramp-down ends at the last step.

# $(call synth,KIND,NAME,ARGS): a fresh synthetic set in data/NAME
define synth
	rm -rf data/$(2)
	$(BIN)/a2f synth --out data/$(2) --kind $(1) $(3)
endef

# $(call train,KIND,DATA,NAME,ARGS): a fresh run in runs/NAME, trained on data/DATA
define train
	rm -rf runs/$(3)
	$(BIN)/a2f train --data data/$(2) --out runs/$(3) --config configs/default_$(1).toml $(4)
endef

# $(call mine,RUN,DATA): mines the emotions of runs/RUN, trained on data/DATA
define mine
	$(BIN)/a2f emotions mine runs/$(1)/last.safetensors --data data/$(2)
endef

# $(call ship,KIND): evaluates runs/default_KIND on held-out voices and ships it
define ship
	$(BIN)/a2f eval --checkpoint runs/default_$(1)/last.safetensors --data data/default_$(1) --split val --emotion labels --by language --out runs/default_$(1)/eval
	$(BIN)/python -m training.release runs/default_$(1)/last.safetensors a2f_core/models/default_$(1).safetensors $(if $(filter vertices,$(1)),--mesh training/assets/ict_head.npz)
endef

.PHONY: models
models: venv
	$(call synth,weights,default_weights,--minutes 600 --seed 1)
	$(call train,weights,default_weights,default_weights_stage1,--minutes 300)
	$(call train,weights,default_weights,default_weights_stage2,--init runs/default_weights_stage1/last.safetensors --steps 8000)
	$(call train,weights,default_weights,default_weights_stage3,--init runs/default_weights_stage2/last.safetensors --steps 4000 --seed 2)
	$(call mine,default_weights_stage3,default_weights)
	$(BIN)/python -m training.release runs/default_weights_stage3/last.safetensors runs/default_weights_stage3/released.safetensors
	$(call train,weights,default_weights,default_weights,--init runs/default_weights_stage3/released.safetensors --steps 4000 --seed 3 --set contact_loss=1.0)
	$(call mine,default_weights,default_weights)
	$(BIN)/python -m training.release runs/default_weights/last.safetensors runs/default_weights/released.safetensors
	$(BIN)/a2f contact runs/default_weights/released.safetensors --data data/default_weights
	$(BIN)/a2f eval --checkpoint runs/default_weights/released.safetensors --data data/default_weights --split val --emotion labels --by language --out runs/default_weights/eval
	cp runs/default_weights/released.safetensors a2f_core/models/default_weights.safetensors
	$(call synth,vertices,default_vertices,--minutes 30 --seed 2)
	$(call train,vertices,default_vertices,default_vertices)
	$(call mine,default_vertices,default_vertices)
	$(call ship,vertices)
