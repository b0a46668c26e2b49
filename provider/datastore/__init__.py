"""Artifacts and task records: content-addressed blobs plus atomic manifests (no Airflow)."""

from provider.datastore.blobs import BlobRef, load_object, save_object
from provider.datastore.flowstore import FlowDataStore, TaskRecord, path_for, task_id_for
from provider.datastore.storage import LocalStorage, Storage, default_root, storage_for

__all__ = [
    "BlobRef",
    "FlowDataStore",
    "LocalStorage",
    "Storage",
    "TaskRecord",
    "default_root",
    "load_object",
    "path_for",
    "save_object",
    "storage_for",
    "task_id_for",
]
