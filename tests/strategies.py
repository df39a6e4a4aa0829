"""Hypothesis strategies shared by the whole suite (one place, as STYLE.md asks)."""

from hypothesis import strategies as st

from crypto.chk import CHK_DATA_SIZE
from crypto.ssk import SSK_DATA_SIZE

key32 = st.binary(min_size=32, max_size=32)
seed64 = st.binary(min_size=64, max_size=64)
chk_data = st.binary(max_size=CHK_DATA_SIZE)
small_chk_data = st.binary(max_size=2048)
ssk_data = st.binary(max_size=SSK_DATA_SIZE)
# Names users type: printable text without '/' (a path separator in URIs).
docname = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"),
    max_size=40,
)
keyword = docname.filter(bool)
path_component = docname
path = st.lists(path_component, max_size=3).map(tuple)
edition = st.integers(min_value=-(10**6), max_value=10**12)
