"""Statements run on the driver's cursor (store/precompiled.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, select
from sqlalchemy.exc import DBAPIError

from glasscloud.store import Store, StoreError
from glasscloud.store.precompiled import Precompiled

_meta = MetaData()
_missing = Table("no_such_table", _meta, Column("k", String), Column("v", Integer))


@pytest.fixture
async def store(store_url: str):
    store = await Store.open(store_url)
    yield store
    await store.close()


async def test_rows_come_back_as_tuples_by_position_with_binds_in_any_order(store):
    from glasscloud.store.schema import users

    await store.set_user_settings("a@example.com", {"x": 1})
    await store.take_user("a@example.com", 7)
    statement = Precompiled(
        select(users.c.user_id, users.c.owner_epoch).where(
            users.c.owner_epoch >= bindparam("low"), users.c.user_id == bindparam("uid")
        )
    )
    rows = await store._run(lambda conn: statement.rows(conn, {"uid": "a@example.com", "low": 7}))
    assert [tuple(r) for r in rows] == [("a@example.com", 7)]
    none = await store._run(lambda conn: statement.rows(conn, {"uid": "a@example.com", "low": 8}))
    assert none == []


async def test_a_driver_error_is_wrapped_as_sqlalchemy_wraps_it_so_the_store_names_it(store):
    statement = Precompiled(insert(_missing).values(k=bindparam("k"), v=bindparam("v")))
    with pytest.raises(StoreError, match="no_such_table") as raised:
        await store._run(lambda conn: statement.rows(conn, {"k": "a", "v": 1}), write=True)
    assert isinstance(raised.value.__cause__, DBAPIError)
    # the Store's own operations go on
    await store.set_user_settings("a@example.com", {"x": 1})
    assert (await store.get_user("a@example.com")).settings == {"x": 1}
