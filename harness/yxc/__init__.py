"""YXC — Guangdong 粤学车 province supervision platform (seed 000)."""
