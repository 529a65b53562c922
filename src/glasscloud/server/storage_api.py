"""Simple Storage: the string key-value store the SDK's `session.simpleStorage` reads and
writes, kept per (App, user).

    GET    /api/sdk/simple-storage/{userId}        -> {success, data: {key: value}}
    GET    /api/sdk/simple-storage/{userId}/{key}  -> {success, data: {key, value|null}}
    PUT    /api/sdk/simple-storage/{userId}        {data: {key: value}}  (the SDK's batched flush)
    PUT    /api/sdk/simple-storage/{userId}/{key}  {value}
    DELETE /api/sdk/simple-storage/{userId}/{key}  -> {success}
    DELETE /api/sdk/simple-storage/{userId}        -> {success}  (clear)

`Authorization: Bearer <package>:<apiKey>` names the App; every read and write is scoped to
that App and the user in the path, so no App sees another App's keys and no user's keys are
read under another user. Limits (store/app_data.py): 100,000 characters per value, 1 MiB per
(App, user); a batch over either stores nothing (413 with a code).
"""

from __future__ import annotations

from aiohttp import web

from glasscloud.protocol.errors import ErrorCode
from glasscloud.server.app_credentials import (
    Refusal,
    app_from_package_key,
    json_object,
    refusals,
)
from glasscloud.server.request_context import server_of
from glasscloud.store import validation
from glasscloud.store.app_data import StorageLimit, check_key
from glasscloud.store.errors import StoreError

_BASE = "/api/sdk/simple-storage/{userId}"
_STATUS = {"INVALID_FIELD": 400, "STORAGE_VALUE_TOO_LARGE": 413, "STORAGE_QUOTA_EXCEEDED": 413}


def add_routes(app: web.Application) -> None:
    app.router.add_get(_BASE, get_all)
    app.router.add_put(_BASE, put_batch)
    app.router.add_delete(_BASE, clear)
    app.router.add_get(_BASE + "/{key}", get_one)
    app.router.add_put(_BASE + "/{key}", put_one)
    app.router.add_delete(_BASE + "/{key}", delete_one)


def _user(request: web.Request) -> str:
    try:
        return validation.user_id(request.match_info["userId"])
    except StoreError:
        raise Refusal(
            400, ErrorCode.INVALID_FIELD, "The userId in the path is empty.", "userId"
        ) from None


def _key(request: web.Request) -> str:
    try:
        return check_key(request.match_info["key"])
    except StorageLimit as error:
        raise Refusal(400, ErrorCode.INVALID_FIELD, error.message, "key") from None


async def _store_batch(request: web.Request, package: str, user: str, data: object) -> int:
    try:
        return await server_of(request).store.storage_put(package, user, data)  # type: ignore[arg-type]
    except StorageLimit as error:
        server_of(request).metrics.inc("storage_refused", code=error.code)
        raise Refusal(
            _STATUS.get(error.code, 400), error.code, error.message, error.field
        ) from None


@refusals
async def get_all(request: web.Request) -> web.Response:
    app = await app_from_package_key(request)
    data = await server_of(request).store.storage_get_all(app.package_name, _user(request))
    return web.json_response({"success": True, "data": data})


@refusals
async def get_one(request: web.Request) -> web.Response:
    app = await app_from_package_key(request)
    key = _key(request)
    value = await server_of(request).store.storage_get(app.package_name, _user(request), key)
    return web.json_response({"success": True, "data": {"key": key, "value": value}})


@refusals
async def put_batch(request: web.Request) -> web.Response:
    app = await app_from_package_key(request)
    user = _user(request)
    body = await json_object(request)
    if not isinstance(body.get("data"), dict):
        raise Refusal(
            400, ErrorCode.INVALID_FIELD, "`data` must be an object of key: string.", "data"
        )
    total = await _store_batch(request, app.package_name, user, body["data"])
    return web.json_response({"success": True, "data": {"totalBytes": total}})


@refusals
async def put_one(request: web.Request) -> web.Response:
    app = await app_from_package_key(request)
    user, key = _user(request), _key(request)
    body = await json_object(request)
    if not isinstance(body.get("value"), str):
        raise Refusal(400, ErrorCode.INVALID_FIELD, "`value` must be a string.", "value")
    try:
        total = await server_of(request).store.storage_put(
            app.package_name, user, {key: body["value"]}
        )
    except StorageLimit as error:
        field = "value" if error.field.startswith("data.") else error.field
        raise Refusal(_STATUS.get(error.code, 400), error.code, error.message, field) from None
    return web.json_response({"success": True, "data": {"totalBytes": total}})


@refusals
async def delete_one(request: web.Request) -> web.Response:
    app = await app_from_package_key(request)
    user, key = _user(request), _key(request)
    deleted = await server_of(request).store.storage_delete(app.package_name, user, key)
    return web.json_response({"success": True, "data": {"deleted": deleted}})


@refusals
async def clear(request: web.Request) -> web.Response:
    app = await app_from_package_key(request)
    deleted = await server_of(request).store.storage_delete(app.package_name, _user(request), None)
    return web.json_response({"success": True, "data": {"deleted": deleted}})
