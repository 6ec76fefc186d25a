# camaudit — build, test, benchmark, demo.
# `make test` installs the system libraries it needs when run as root (apt), then builds and runs
# the whole suite in release mode (numeric code is too slow in debug builds).

APT_PACKAGES := libopenblas-dev liblapacke-dev libpng-dev libjpeg-dev libdcmtk-dev pkg-config librsvg2-bin fonts-dejavu-core chromium python3
SWIFT        ?= swift
RELEASE      := -c release
TEST_FLAGS   := -c release -Xswiftc -enable-testing
THREADS      ?= $(shell nproc)
DEMO_OUT     ?= demo-out
PYTHON       ?= python3

.PHONY: all deps build test bench demo clean slurm slurm-stop

all: build

# Install missing apt packages (root only; others get a hint).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing system packages:$$missing — run: sudo apt-get install$$missing" >&2; exit 1; \
	  fi; \
	fi

build: deps
	$(SWIFT) build $(RELEASE)

test: deps
	$(SWIFT) build $(TEST_FLAGS) --build-tests
	$(SWIFT) test $(TEST_FLAGS) --skip-build --disable-swift-testing

# Speed tables on stdout and JSON in $(BENCH_OUT)/: kernels against the sgemm rate of the same run,
# then per architecture model forwards, CAM methods and deletion/insertion. When PyTorch is
# importable, scripts/bench_torch.py times the same architecture right after ours (on a shared
# machine both sides of a ratio then see the same load) and scripts/compare_bench.py prints ratios.
ARCHS     ?= resnet50 resnet101 densenet161 efficientnet_b0 vit_b_16
BENCH_OUT ?= bench-out
# Training steps (AdamW, batch 16, optimizer step included) per architecture and image size, each in
# a fresh process (ours, then PyTorch's), so a row's peak memory is its own. Then the sweep section:
# throughput for 1…all cores and the plan/store bookkeeping at 10^6 units (docs/SWEEP.md).
TRAIN_SIZES ?= 224 128
TRAIN_REPS  ?= 2
bench: deps
	$(SWIFT) build $(RELEASE)
	@mkdir -p $(BENCH_OUT)
	.build/release/camaudit bench --threads $(THREADS) --sections kernels --json $(BENCH_OUT)/kernels.json
	@if $(PYTHON) -c "import torch, torchvision, pytorch_grad_cam" 2>/dev/null; then torch=1; else torch=0; \
	  echo "(PyTorch not importable with $(PYTHON): no side-by-side numbers; set PYTHON=...)"; fi; \
	for a in $(ARCHS); do \
	  .build/release/camaudit bench --threads $(THREADS) --sections models,cams,metrics --model $$a \
	    --json $(BENCH_OUT)/ours-$$a.json || exit 1; \
	  if [ $$torch = 1 ]; then \
	    $(PYTHON) scripts/bench_torch.py --threads $(THREADS) --quick --arch $$a > $(BENCH_OUT)/torch-$$a.json || exit 1; \
	  fi; \
	done; \
	for a in $(ARCHS); do for s in $(TRAIN_SIZES); do \
	  .build/release/camaudit bench --threads $(THREADS) --sections training --model $$a --train-sizes $$s \
	    --reps $(TRAIN_REPS) --json $(BENCH_OUT)/ours-train-$$a-$$s.json || exit 1; \
	  if [ $$torch = 1 ]; then \
	    $(PYTHON) scripts/bench_torch.py --threads $(THREADS) --training-only --arch $$a --train-sizes $$s \
	      --repeats $(TRAIN_REPS) > $(BENCH_OUT)/torch-train-$$a-$$s.json || exit 1; \
	  fi; \
	done; done; \
	.build/release/camaudit bench --threads $(THREADS) --sections sweep --json $(BENCH_OUT)/ours-sweep.json || exit 1; \
	if [ $$torch = 1 ]; then \
	  $(PYTHON) scripts/compare_bench.py --ours $(BENCH_OUT)/ours-*.json --torch $(BENCH_OUT)/torch-*.json; \
	fi

# A small end-to-end run on synthetic phantoms with random weights.
demo: deps
	$(SWIFT) build $(RELEASE)
	.build/release/camaudit synth --out $(DEMO_OUT)/data --count 12 --size 256 --seed 7 --shortcut 0.25
	.build/release/camaudit evaluate --data $(DEMO_OUT)/data/manifest.csv --model all --seeds 0,1 \
	  --methods gradcam,random --metrics locacc,pointing,energy,iou,auc,faith,drop,increase,deletion,insertion,consist,cross_arch \
	  --steps 10 --image-size 128 --out $(DEMO_OUT)/results --overlay-dir $(DEMO_OUT)/overlays --threads $(THREADS)

# The study end to end (docs/PAPER.md): PROFILE=tiny|quick|full|study, DATA=IQ-OTH/NCCD folder, MASKS=lesion masks,
# PRETRAINED=folder of torchvision's ImageNet checkpoints (study needs it),
# SLURM=1 (training runs and sweeps as Slurm jobs), OUT=report folder. Stages are cached under $(OUT)/cache.
.PHONY: paper
PROFILE ?= quick
OUT     ?= reports/$(PROFILE)
paper: deps
	$(SWIFT) build $(RELEASE)
	.build/release/camaudit paper --profile $(PROFILE) --out "$(OUT)" --threads $(THREADS) \
	  $(if $(DATA),--data "$(DATA)") $(if $(MASKS),--masks "$(MASKS)") $(if $(filter 1 yes true,$(SLURM)),--slurm) \
	  $(if $(PRETRAINED),--pretrained "$(PRETRAINED)")

# A single-node Slurm on this machine (root; Debian packages, no systemd): the sweep tests submit to it.
slurm:
	scripts/slurm/start.sh
slurm-stop:
	scripts/slurm/stop.sh

clean:
	rm -rf .build $(DEMO_OUT) $(BENCH_OUT)
