"""Our own S3 multipart writer, on boto3's public multipart calls.

Why not smart_open's writer: after a failed abort we must make sure nothing
completes the upload (io.IOBase's finalizer calls close(), and its close()
completes with the parts sent, publishing a partial object). smart_open offers no
public way to drop an upload, only its private `_upload_id`. Here `close()`
never completes: only `complete()` does, called once the export is whole.
"""

from __future__ import annotations

import io
from typing import Any


class MultipartWriter(io.RawIOBase):
    """Buffers `part_size` bytes per part; the upload starts when the writer is made.

    `client` is our wrapped boto3 client (its errors are ours already).
    """

    def __init__(
        self, client: Any, bucket: str, key: str, part_size: int, settings: dict[str, str]
    ):
        self.client, self.bucket, self.key = client, bucket, key
        self.part_size, self.settings = part_size, settings
        created = client.create_multipart_upload(Bucket=bucket, Key=key, **settings)
        #: None once completed, aborted or forgotten.
        self.upload_id: str | None = created["UploadId"]
        self.buffer = bytearray()
        self.parts: list[dict[str, Any]] = []
        self.total = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        self.buffer += view
        self.total += view.nbytes
        while len(self.buffer) >= self.part_size:
            self._upload_part(bytes(self.buffer[: self.part_size]))
            del self.buffer[: self.part_size]
        return view.nbytes

    def complete(self) -> None:
        """Upload what is left and complete: the object appears, whole."""
        upload_id = self.upload_id
        assert upload_id is not None, "the upload was aborted or forgotten"
        if not self.total:
            # S3 refuses to complete an upload without parts: an empty object is put.
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload_id)
            self.upload_id = None
            self.client.put_object(Bucket=self.bucket, Key=self.key, Body=b"", **self.settings)
            return
        if self.buffer:
            self._upload_part(bytes(self.buffer))
            self.buffer.clear()
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=upload_id,
            MultipartUpload={"Parts": self.parts},
        )
        self.upload_id = None

    def forget(self) -> None:
        """Drop the upload: nothing can complete it any more (after an abort, tried or done)."""
        self.upload_id = None
        self.buffer.clear()

    def close(self) -> None:
        """Close the stream only: completing is `complete()`'s job, never a finalizer's."""
        super().close()

    def _upload_part(self, body: bytes) -> None:
        number = len(self.parts) + 1
        answer = self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body
        )
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})
