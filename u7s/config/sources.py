"""How `u7s settings` names where a derived HOST_IP came from (its "from" column).

Here, below facts/ which detects the address, because config/ compares sources too
(a routed HOST_IP shared by two hosts is a mistake, u7s/config/crosshost.py)."""

FROM_INVENTORY = "detected: the inventory address, which the host has"
FROM_ROUTE = "detected: the default route's source (ip route get 1)"
