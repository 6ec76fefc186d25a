# camaudit — build, test, benchmark, demo.
# `make test` installs the system libraries it needs when run as root (apt), then builds and runs
# the whole suite in release mode (numeric code is too slow in debug builds).

APT_PACKAGES := libopenblas-dev liblapacke-dev libpng-dev libjpeg-dev pkg-config
SWIFT        ?= swift
RELEASE      := -c release
TEST_FLAGS   := -c release -Xswiftc -enable-testing
THREADS      ?= $(shell nproc)
DEMO_OUT     ?= demo-out
PYTHON       ?= python3

.PHONY: all deps build test bench demo clean

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

# Speed table on stdout and bench.json: kernels against the sgemm rate of the same run, model
# forwards, CAM methods, deletion/insertion; PyTorch side by side when it is importable.
bench: deps
	$(SWIFT) build $(RELEASE)
	.build/release/camaudit bench --threads $(THREADS) --json bench.json
	@if $(PYTHON) -c "import torch, torchvision, pytorch_grad_cam" 2>/dev/null; then \
	  $(PYTHON) scripts/bench_torch.py --threads $(THREADS) --quick > bench_torch.json && \
	  $(PYTHON) scripts/compare_bench.py bench.json bench_torch.json; \
	else echo "(PyTorch not importable with $(PYTHON): no side-by-side numbers; set PYTHON=...)"; fi

# A small end-to-end run on synthetic phantoms with random weights.
demo: deps
	$(SWIFT) build $(RELEASE)
	.build/release/camaudit synth --out $(DEMO_OUT)/data --count 12 --size 256 --seed 7 --shortcut 0.25
	.build/release/camaudit evaluate --data $(DEMO_OUT)/data/manifest.csv --model all --seeds 0,1 \
	  --methods gradcam,random --metrics locacc,pointing,energy,iou,auc,faith,drop,increase,deletion,insertion,consist,cross_arch \
	  --steps 10 --image-size 128 --out $(DEMO_OUT)/results --overlay-dir $(DEMO_OUT)/overlays --threads $(THREADS)

clean:
	rm -rf .build $(DEMO_OUT) bench.json bench_torch.json
