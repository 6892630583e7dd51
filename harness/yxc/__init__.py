"""YXC — Guangdong 粤学车 province supervision platform (seed 000_cc5a135ab30baa11.txt, INTERFACES.md §1)."""
