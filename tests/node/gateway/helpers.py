"""Keys and paths shared by the gateway filter tests."""

from crypto.uri import CHKURI, USKURI

CHK = str(CHKURI(routing_key=b"a" * 32, decryption_key=b"b" * 32))
USK = str(USKURI(key=b"c" * 32, crypto_key=b"d" * 32, site="site", edition=5))
BASE = f"/{CHK}/dir/page.html"
SITE_ROOT = f"/{USK}"
