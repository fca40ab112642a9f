"""The pure ManageSieve (RFC 5804) server protocol core: bytes in, events out;
responses in, bytes out.

No asyncio, no storage, stdlib only (DESIGN.md principle 1).  SASL
mechanisms are not here: the session runs ``hivemail.auth.sasl`` exchanges
and this core frames their data (``SaslChallenge``, ``AuthResponse``,
``ResponseCode.sasl``).  See ``connection.py`` for how a session drives
:class:`ManageSieveServerConnection`, and ``events.py`` for what each event
asks of it.
"""

from .commands import (
    COMMANDS,
    MAX_NAME_OCTETS,
    ArgKind,
    Args,
    AuthenticateRequest,
    CapabilityRequest,
    CheckScriptRequest,
    CommandSpec,
    DeleteScriptRequest,
    GetScriptRequest,
    HaveSpaceRequest,
    ListScriptsRequest,
    LogoutRequest,
    NoopRequest,
    PutScriptRequest,
    RenameScriptRequest,
    Request,
    SetActiveRequest,
    StartTlsRequest,
    UnauthenticateRequest,
    check_script_name,
    decode_base64,
)
from .connection import ManageSieveLimits, ManageSieveServerConnection
from .events import AuthAborted, AuthResponse, BadCommand, CommandReceived, ConnectionClosed, Event
from .responses import (
    ACTIVE,
    ALREADYEXISTS,
    AUTH_TOO_WEAK,
    ENCRYPT_NEEDED,
    NONEXISTENT,
    QUOTA,
    QUOTA_MAXSCRIPTS,
    QUOTA_MAXSIZE,
    TRANSITION_NEEDED,
    TRYLATER,
    WARNINGS,
    Bye,
    Capabilities,
    Final,
    No,
    Ok,
    Response,
    ResponseCode,
    SaslChallenge,
    ScriptContent,
    ScriptList,
    capabilities,
    format_response,
)
from .states import LIVE_STATES, TRANSITIONS, State, next_state
from .tokens import Atom, LiteralMarker, ParseError, String, format_string, lex_segment

__all__ = [
    # the connection
    "ManageSieveServerConnection", "ManageSieveLimits", "State", "LIVE_STATES", "TRANSITIONS", "next_state",
    # events
    "Event", "CommandReceived", "AuthResponse", "AuthAborted", "BadCommand", "ConnectionClosed",
    # requests and the command table
    "Request", "AuthenticateRequest", "StartTlsRequest", "LogoutRequest", "CapabilityRequest",
    "HaveSpaceRequest", "PutScriptRequest", "ListScriptsRequest", "SetActiveRequest", "GetScriptRequest",
    "DeleteScriptRequest", "RenameScriptRequest", "CheckScriptRequest", "NoopRequest", "UnauthenticateRequest",
    "COMMANDS", "CommandSpec", "ArgKind", "Args", "MAX_NAME_OCTETS", "check_script_name", "decode_base64",
    # responses
    "Response", "Final", "Ok", "No", "Bye", "ResponseCode", "Capabilities", "ScriptList", "ScriptContent",
    "SaslChallenge", "capabilities", "format_response",
    "ACTIVE", "ALREADYEXISTS", "AUTH_TOO_WEAK", "ENCRYPT_NEEDED", "NONEXISTENT", "QUOTA", "QUOTA_MAXSCRIPTS",
    "QUOTA_MAXSIZE", "TRANSITION_NEEDED", "TRYLATER", "WARNINGS",
    # tokens
    "Atom", "String", "LiteralMarker", "ParseError", "format_string", "lex_segment",
]
