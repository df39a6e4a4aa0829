"""FCP 2.0 error code tables: ProtocolError, GetFailed and PutFailed codes with their texts.

The numbers are Freenet's (clients switch on them, so they must not move); the
descriptions are our own words. ``fatal`` is the default ``Fatal`` flag a reply
carries: true when retrying the same request cannot help.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CodeText:
    """How one code is described on the wire."""

    description: str
    short: str
    fatal: bool


class ProtocolErrorCode(enum.IntEnum):
    """Codes of the ``ProtocolError`` message (a problem with what the client sent)."""

    CLIENT_HELLO_MUST_BE_FIRST = 1
    NO_LATE_CLIENT_HELLOS = 2
    MESSAGE_PARSE_ERROR = 3
    URI_PARSE_ERROR = 4
    MISSING_FIELD = 5
    ERROR_PARSING_NUMBER = 6
    INVALID_MESSAGE = 7
    INVALID_FIELD = 8
    FILE_NOT_FOUND = 9
    DISK_TARGET_EXISTS = 10
    SAME_DIRECTORY_ONLY = 11
    COULD_NOT_CREATE_FILE = 12
    COULD_NOT_WRITE_FILE = 13
    COULD_NOT_RENAME_FILE = 14
    NO_SUCH_IDENTIFIER = 15
    NOT_SUPPORTED = 16
    INTERNAL_ERROR = 17
    SHUTTING_DOWN = 18
    NO_SUCH_NODE_IDENTIFIER = 19
    URL_PARSE_ERROR = 20
    REF_PARSE_ERROR = 21
    FILE_PARSE_ERROR = 22
    NOT_A_FILE = 23
    ACCESS_DENIED = 24
    DDA_DENIED = 25
    COULD_NOT_READ_FILE = 26
    REF_SIGNATURE_INVALID = 27
    CANNOT_PEER_WITH_SELF = 28
    DUPLICATE_PEER_REF = 29
    OPENNET_DISABLED = 30
    DARKNET_ONLY = 31
    NO_SUCH_PLUGIN = 32
    PERSISTENCE_DISABLED = 33
    TOO_MANY_FILES_IN_INSERT = 34
    BAD_MIME_TYPE = 35


PROTOCOL_ERROR_TEXT: dict[int, str] = {
    1: "The first message on a connection must be ClientHello",
    2: "ClientHello was already received on this connection",
    3: "The message could not be parsed",
    4: "The key (URI) could not be parsed",
    5: "A required field is missing",
    6: "A numeric field does not hold a valid number",
    7: "This message is not understood here",
    8: "A field has a value that is not allowed",
    9: "The file does not exist, is not a regular file, or cannot be read",
    10: "The target file exists already; it is not overwritten",
    11: "Only files in the same directory are allowed",
    12: "The file could not be created",
    13: "The file could not be written",
    14: "The file could not be renamed",
    15: "No request with this identifier",
    16: "Not supported by this node",
    17: "Internal error in the node",
    18: "The node is shutting down",
    19: "No peer with this identifier",
    20: "The URL could not be parsed",
    21: "The node reference could not be parsed",
    22: "The file could not be parsed",
    23: "Not a regular file",
    24: "Access denied",
    25: "Direct disk access to this directory has not been granted (run TestDDA first)",
    26: "The file could not be read",
    27: "The node reference's signature is invalid",
    28: "A node cannot peer with itself",
    29: "That peer is known already",
    30: "Opennet is disabled on this node",
    31: "Only darknet peers can be used for this",
    32: "No such plugin",
    33: "Persistent requests are disabled on this node",
    34: "Too many files in one insert",
    35: "The MIME type is not acceptable",
}


class GetFailedCode(enum.IntEnum):
    """Codes of the ``GetFailed`` message (a fetch that did not succeed)."""

    UNKNOWN_METADATA = 3
    INVALID_METADATA = 4
    ARCHIVE_FAILURE = 5
    BLOCK_DECODE_ERROR = 6
    TOO_MANY_ARCHIVE_RESTARTS = 8
    TOO_MUCH_RECURSION = 9
    NOT_IN_ARCHIVE = 10
    TOO_MANY_PATH_COMPONENTS = 11
    BUCKET_ERROR = 12
    DATA_NOT_FOUND = 13
    ROUTE_NOT_FOUND = 14
    REJECTED_OVERLOAD = 15
    INTERNAL_ERROR = 17
    TRANSFER_FAILED = 18
    SPLITFILE_ERROR = 19
    INVALID_URI = 20
    TOO_BIG = 21
    TOO_BIG_METADATA = 22
    TOO_MANY_BLOCKS_PER_SEGMENT = 23
    NOT_ENOUGH_PATH_COMPONENTS = 24
    CANCELLED = 25
    ARCHIVE_RESTART = 26
    PERMANENT_REDIRECT = 27
    ALL_DATA_NOT_FOUND = 28
    WRONG_MIME_TYPE = 29
    RECENTLY_FAILED = 30
    CONTENT_VALIDATION_FAILED = 31
    CONTENT_VALIDATION_UNKNOWN_MIME = 32
    CONTENT_VALIDATION_BAD_MIME = 33
    CONTENT_HASH_FAILED = 34
    SPLITFILE_DECODE_ERROR = 35
    MIME_INCOMPATIBLE_WITH_EXTENSION = 36
    NOT_ENOUGH_DISK_SPACE = 37


# Codes whose GetFailed must carry RedirectURI: clients re-request that key.
REDIRECT_CODES = frozenset(
    {GetFailedCode.TOO_MANY_PATH_COMPONENTS, GetFailedCode.PERMANENT_REDIRECT}
)

GET_FAILED_TEXT: dict[int, CodeText] = {
    1: CodeText("Archives nested too deeply", "Archives too deep", True),
    2: CodeText("The file's layout description is not understood", "Unknown layout", True),
    3: CodeText(
        "The metadata is of a kind this node does not understand", "Unknown metadata", True
    ),
    4: CodeText("The metadata is malformed", "Invalid metadata", True),
    5: CodeText("A container (archive) could not be read", "Archive failure", True),
    6: CodeText("A block was found but could not be decoded", "Block decode error", True),
    7: CodeText("Metadata nested too deeply", "Metadata too deep", True),
    8: CodeText("A container changed too many times while being read", "Archive restarts", True),
    9: CodeText("Redirects or nested metadata went too deep", "Too much recursion", True),
    10: CodeText("The name is not in the container", "Not in archive", True),
    11: CodeText(
        "The key has more path components than its content has; fetch RedirectURI instead",
        "Too many path components",
        True,
    ),
    12: CodeText("Temporary storage on the node failed", "Temporary storage error", True),
    13: CodeText("The data was not found on the network", "Data not found", False),
    14: CodeText("No route was found to reach the data", "Route not found", False),
    15: CodeText("Nodes on the way were too busy and refused", "Overloaded", False),
    16: CodeText("Too many redirects", "Too many redirects", True),
    17: CodeText("Internal error in the node", "Internal error", True),
    18: CodeText("The data was found but its transfer failed", "Transfer failed", False),
    19: CodeText("Too many blocks of the file could not be fetched", "Splitfile error", False),
    20: CodeText("The key is not valid", "Invalid key", True),
    21: CodeText("The data is larger than the allowed maximum size", "Too big", True),
    22: CodeText("The metadata is larger than allowed", "Metadata too big", True),
    23: CodeText("The file's segments are larger than allowed", "Segments too big", True),
    24: CodeText(
        "The key names a directory (site) with no default document; add a file name",
        "Not enough path components",
        True,
    ),
    25: CodeText("The request was cancelled", "Cancelled", False),
    26: CodeText("A container changed while being read", "Archive restart", True),
    27: CodeText(
        "A newer edition or another key holds this content; fetch RedirectURI instead",
        "Permanent redirect",
        True,
    ),
    28: CodeText("Some blocks were found but not all of them", "All data not found", False),
    29: CodeText("The content's MIME type is not one of those allowed", "Wrong MIME type", True),
    30: CodeText(
        "The data was looked for very recently and not found; try again later",
        "Recently failed",
        False,
    ),
    31: CodeText("The content filter rejected the content", "Filter failed", True),
    32: CodeText("The content filter does not know this content type", "Unknown type", True),
    33: CodeText("The content type is known to be unsafe", "Dangerous type", True),
    34: CodeText("The content does not match its recorded hash", "Hash mismatch", True),
    35: CodeText("Erasure decoding produced inconsistent blocks", "Decode mismatch", True),
    36: CodeText("The MIME type does not fit the file name's extension", "Wrong extension", True),
    37: CodeText("Not enough disk space on the node", "Disk full", True),
}


class PutFailedCode(enum.IntEnum):
    """Codes of the ``PutFailed`` message (an insert that did not succeed)."""

    INVALID_URI = 1
    BUCKET_ERROR = 2
    INTERNAL_ERROR = 3
    REJECTED_OVERLOAD = 4
    ROUTE_NOT_FOUND = 5
    FATAL_ERRORS_IN_BLOCKS = 6
    TOO_MANY_RETRIES_IN_BLOCKS = 7
    ROUTE_REALLY_NOT_FOUND = 8
    COLLISION = 9
    CANCELLED = 10
    META_STRINGS_NOT_SUPPORTED = 11
    BINARY_BLOB_FORMAT_ERROR = 12
    TOO_MANY_FILES = 13
    TOO_BIG = 14


PUT_FAILED_TEXT: dict[int, CodeText] = {
    1: CodeText("The key cannot be used for an insert", "Invalid key", True),
    2: CodeText("Temporary storage on the node failed", "Temporary storage error", True),
    3: CodeText("Internal error in the node", "Internal error", True),
    4: CodeText("Nodes on the way were too busy and refused", "Overloaded", False),
    5: CodeText("Not enough nodes could be reached to store the data", "Route not found", False),
    6: CodeText("Some blocks failed for good", "Blocks failed", True),
    7: CodeText("Some blocks failed after every retry", "Too many retries", False),
    8: CodeText("The insert could not leave this node; is it connected?", "No route", False),
    9: CodeText("Different data exists already under this key", "Collision", True),
    10: CodeText("The insert was cancelled", "Cancelled", True),
    11: CodeText("This kind of key takes no path after it", "Path not allowed", True),
    12: CodeText("The binary blob is malformed", "Bad blob", True),
    13: CodeText("Too many files in one directory insert", "Too many files", True),
    14: CodeText("The data is larger than this node can insert", "Too big", True),
}


def get_failed_text(code: int) -> CodeText:
    """The texts for a GetFailed code (a generic text for codes we do not know)."""
    return GET_FAILED_TEXT.get(code, CodeText(f"Fetch failed (code {code})", "Failed", True))


def put_failed_text(code: int) -> CodeText:
    """The texts for a PutFailed code (a generic text for codes we do not know)."""
    return PUT_FAILED_TEXT.get(code, CodeText(f"Insert failed (code {code})", "Failed", True))


def protocol_error_text(code: int) -> str:
    return PROTOCOL_ERROR_TEXT.get(code, f"Protocol error (code {code})")
