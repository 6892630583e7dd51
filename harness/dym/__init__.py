"""DYM: the 滇运码 Yunnan transport-code platform (seed 004). The seed is a service guide without an API; the interface
served under /dym is the harness's design (specs/dym/platform.yaml, D-DYM-DESIGNED), described in docs/dym.md."""
