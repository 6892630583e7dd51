"""Time constants every platform shares."""

from __future__ import annotations

import datetime as dt

# Every wall-clock time of the three seeds is Beijing time (D-TIMEZONE for YXC, D-DUDU-SERVER-TIME for DUDU; ZJPX's
# dates are Beijing dates too).
BEIJING = dt.timezone(dt.timedelta(hours=8))
