import datetime

from conductor.v1 import payload_pb2 as _payload_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConnectRequest(_message.Message):
    __slots__ = ("register", "drain", "heartbeat")
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    register: Register
    drain: Drain
    heartbeat: Heartbeat
    def __init__(self, register: _Optional[_Union[Register, _Mapping]] = ..., drain: _Optional[_Union[Drain, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class Register(_message.Message):
    __slots__ = ("kinds", "concurrency", "name")
    KINDS_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedScalarFieldContainer[str]
    concurrency: int
    name: str
    def __init__(self, kinds: _Optional[_Iterable[str]] = ..., concurrency: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class Drain(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ConnectResponse(_message.Message):
    __slots__ = ("registered", "assignment", "revocation", "heartbeat")
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    REVOCATION_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    registered: Registered
    assignment: Assignment
    revocation: Revocation
    heartbeat: Heartbeat
    def __init__(self, registered: _Optional[_Union[Registered, _Mapping]] = ..., assignment: _Optional[_Union[Assignment, _Mapping]] = ..., revocation: _Optional[_Union[Revocation, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class Registered(_message.Message):
    __slots__ = ("runner_id", "heartbeat_interval", "max_message_bytes")
    RUNNER_ID_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    runner_id: str
    heartbeat_interval: _duration_pb2.Duration
    max_message_bytes: int
    def __init__(self, runner_id: _Optional[str] = ..., heartbeat_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_message_bytes: _Optional[int] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("ticket", "kind", "input", "attempt", "lease")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    ticket: int
    kind: str
    input: _payload_pb2.Payload
    attempt: int
    lease: str
    def __init__(self, ticket: _Optional[int] = ..., kind: _Optional[str] = ..., input: _Optional[_Union[_payload_pb2.Payload, _Mapping]] = ..., attempt: _Optional[int] = ..., lease: _Optional[str] = ...) -> None: ...

class Revocation(_message.Message):
    __slots__ = ("ticket", "lease", "reason")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ticket: int
    lease: str
    reason: str
    def __init__(self, ticket: _Optional[int] = ..., lease: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class FinishRequest(_message.Message):
    __slots__ = ("ticket", "lease", "error")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ticket: int
    lease: str
    error: _payload_pb2.JobError
    def __init__(self, ticket: _Optional[int] = ..., lease: _Optional[str] = ..., error: _Optional[_Union[_payload_pb2.JobError, _Mapping]] = ...) -> None: ...

class FinishResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRunnersRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRunnersResponse(_message.Message):
    __slots__ = ("runners", "next_page_token")
    RUNNERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runners: _containers.RepeatedCompositeFieldContainer[RunnerInfo]
    next_page_token: str
    def __init__(self, runners: _Optional[_Iterable[_Union[RunnerInfo, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RunnerInfo(_message.Message):
    __slots__ = ("runner_id", "name", "kinds", "concurrency", "active_jobs", "draining", "connect_time")
    RUNNER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_JOBS_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    CONNECT_TIME_FIELD_NUMBER: _ClassVar[int]
    runner_id: str
    name: str
    kinds: _containers.RepeatedScalarFieldContainer[str]
    concurrency: int
    active_jobs: int
    draining: bool
    connect_time: _timestamp_pb2.Timestamp
    def __init__(self, runner_id: _Optional[str] = ..., name: _Optional[str] = ..., kinds: _Optional[_Iterable[str]] = ..., concurrency: _Optional[int] = ..., active_jobs: _Optional[int] = ..., draining: _Optional[bool] = ..., connect_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
