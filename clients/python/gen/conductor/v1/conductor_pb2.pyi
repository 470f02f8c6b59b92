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

class ExecRequest(_message.Message):
    __slots__ = ("kind", "input", "max_retries")
    KIND_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    kind: str
    input: _payload_pb2.Payload
    max_retries: int
    def __init__(self, kind: _Optional[str] = ..., input: _Optional[_Union[_payload_pb2.Payload, _Mapping]] = ..., max_retries: _Optional[int] = ...) -> None: ...

class ExecResponse(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: int
    def __init__(self, ticket: _Optional[int] = ...) -> None: ...

class PushRequest(_message.Message):
    __slots__ = ("ticket", "lease", "results", "progress", "first_sequence")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ticket: int
    lease: str
    results: _containers.RepeatedCompositeFieldContainer[_payload_pb2.Payload]
    progress: _payload_pb2.Progress
    first_sequence: int
    def __init__(self, ticket: _Optional[int] = ..., lease: _Optional[str] = ..., results: _Optional[_Iterable[_Union[_payload_pb2.Payload, _Mapping]]] = ..., progress: _Optional[_Union[_payload_pb2.Progress, _Mapping]] = ..., first_sequence: _Optional[int] = ...) -> None: ...

class PushResponse(_message.Message):
    __slots__ = ("last_sequence",)
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    last_sequence: int
    def __init__(self, last_sequence: _Optional[int] = ...) -> None: ...

class PushStreamRequest(_message.Message):
    __slots__ = ("ticket", "lease", "results", "progress", "first_sequence")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ticket: int
    lease: str
    results: _containers.RepeatedCompositeFieldContainer[_payload_pb2.Payload]
    progress: _payload_pb2.Progress
    first_sequence: int
    def __init__(self, ticket: _Optional[int] = ..., lease: _Optional[str] = ..., results: _Optional[_Iterable[_Union[_payload_pb2.Payload, _Mapping]]] = ..., progress: _Optional[_Union[_payload_pb2.Progress, _Mapping]] = ..., first_sequence: _Optional[int] = ...) -> None: ...

class PushStreamResponse(_message.Message):
    __slots__ = ("last_sequence", "stored_count")
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STORED_COUNT_FIELD_NUMBER: _ClassVar[int]
    last_sequence: int
    stored_count: int
    def __init__(self, last_sequence: _Optional[int] = ..., stored_count: _Optional[int] = ...) -> None: ...

class PushPipelineRequest(_message.Message):
    __slots__ = ("ticket", "lease", "results", "progress", "first_sequence")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ticket: int
    lease: str
    results: _containers.RepeatedCompositeFieldContainer[_payload_pb2.Payload]
    progress: _payload_pb2.Progress
    first_sequence: int
    def __init__(self, ticket: _Optional[int] = ..., lease: _Optional[str] = ..., results: _Optional[_Iterable[_Union[_payload_pb2.Payload, _Mapping]]] = ..., progress: _Optional[_Union[_payload_pb2.Progress, _Mapping]] = ..., first_sequence: _Optional[int] = ...) -> None: ...

class PushPipelineResponse(_message.Message):
    __slots__ = ("last_sequence",)
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    last_sequence: int
    def __init__(self, last_sequence: _Optional[int] = ...) -> None: ...

class PullRequest(_message.Message):
    __slots__ = ("ticket", "max_results", "wait", "after_sequence")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ticket: int
    max_results: int
    wait: _duration_pb2.Duration
    after_sequence: int
    def __init__(self, ticket: _Optional[int] = ..., max_results: _Optional[int] = ..., wait: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class PullResponse(_message.Message):
    __slots__ = ("results", "state")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[_payload_pb2.Result]
    state: _payload_pb2.JobState
    def __init__(self, results: _Optional[_Iterable[_Union[_payload_pb2.Result, _Mapping]]] = ..., state: _Optional[_Union[_payload_pb2.JobState, str]] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("ticket", "after_sequence")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ticket: int
    after_sequence: int
    def __init__(self, ticket: _Optional[int] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("results", "progress")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[_payload_pb2.Result]
    progress: _payload_pb2.Progress
    def __init__(self, results: _Optional[_Iterable[_Union[_payload_pb2.Result, _Mapping]]] = ..., progress: _Optional[_Union[_payload_pb2.Progress, _Mapping]] = ...) -> None: ...

class CancelRequest(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: int
    def __init__(self, ticket: _Optional[int] = ...) -> None: ...

class CancelResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: _payload_pb2.JobState
    def __init__(self, state: _Optional[_Union[_payload_pb2.JobState, str]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: int
    def __init__(self, ticket: _Optional[int] = ...) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: TicketStatus
    def __init__(self, status: _Optional[_Union[TicketStatus, _Mapping]] = ...) -> None: ...

class ListTicketsRequest(_message.Message):
    __slots__ = ("state", "kind", "page_size", "page_token")
    STATE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    state: _payload_pb2.JobState
    kind: str
    page_size: int
    page_token: str
    def __init__(self, state: _Optional[_Union[_payload_pb2.JobState, str]] = ..., kind: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTicketsResponse(_message.Message):
    __slots__ = ("tickets", "next_page_token")
    TICKETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tickets: _containers.RepeatedCompositeFieldContainer[TicketStatus]
    next_page_token: str
    def __init__(self, tickets: _Optional[_Iterable[_Union[TicketStatus, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class TicketStatus(_message.Message):
    __slots__ = ("ticket", "kind", "state", "pushed_count", "delivered_count", "buffered_count", "attempt", "progress", "error", "create_time", "start_time", "end_time", "expire_time")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PUSHED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_COUNT_FIELD_NUMBER: _ClassVar[int]
    BUFFERED_COUNT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    ticket: int
    kind: str
    state: _payload_pb2.JobState
    pushed_count: int
    delivered_count: int
    buffered_count: int
    attempt: int
    progress: _payload_pb2.Progress
    error: _payload_pb2.JobError
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, ticket: _Optional[int] = ..., kind: _Optional[str] = ..., state: _Optional[_Union[_payload_pb2.JobState, str]] = ..., pushed_count: _Optional[int] = ..., delivered_count: _Optional[int] = ..., buffered_count: _Optional[int] = ..., attempt: _Optional[int] = ..., progress: _Optional[_Union[_payload_pb2.Progress, _Mapping]] = ..., error: _Optional[_Union[_payload_pb2.JobError, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
