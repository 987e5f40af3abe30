"""The service layer: the runtime and every per-principal facade.

A facade method is one unit of work (:mod:`meshlake.service.unit`): one store transaction,
one governance snapshot that also sees the unit's own pending writes, and the audit events,
committed together. Domain packages (catalog, governance, storage, query, products, ml,
events) never import this package.
"""
