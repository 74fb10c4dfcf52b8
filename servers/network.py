"""The ``server`` section of a server config file as a :class:`ServerConfig` policy."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aiodicom.config import NetworkSection
from aiodicom.net import ServerConfig
from aiodicom.proto import QueryModel


def network_policy(
    net: NetworkSection,
    *,
    accept_called_ae: Callable[[str], bool] | None = None,
    extended_negotiation: Mapping[str | QueryModel, bytes] | None = None,
) -> ServerConfig:
    """AE title, calling AE allow-list, limits and timers (PS3.8 9.1.5 ARTIM) of ``net``.

    ``accept_called_ae`` and ``extended_negotiation`` are passed on as they are (see
    :class:`ServerConfig`): the worklist SCP checks the called AE against its data
    folder (PS3.8 9.3.4), the Q/R SCP answers extended negotiation (PS3.7 D.3.3.5).
    """
    return ServerConfig(
        ae_title=net.ae_title,
        accept_called_ae=accept_called_ae,
        allowed_calling_aes=net.allowed_calling_aes,
        max_associations=net.max_associations,
        artim_timeout=net.artim_timeout,
        idle_timeout=net.idle_timeout,
        pdu_timeout=net.pdu_timeout,
        message_timeout=net.message_timeout,
        max_associations_per_address=net.max_associations_per_address,
        max_associations_per_calling_ae=net.max_associations_per_calling_ae,
        max_pdu_length=net.max_pdu_length,
        extended_negotiation=extended_negotiation,
        async_ops_window=net.async_ops_window,
    )
