"""Regenerates the demo files in lambda/s3seal/examples/ (package data; same bytes every run).

- sales.csv: pipe-delimited sales rows (Redshift's default COPY delimiter).
- clickstream.jsonl: several MiB of JSON lines, large enough for a multipart upload.
- "ventes d'été 2026 — Zürich.csv": a key with spaces, an apostrophe and non-ASCII characters.
"""

from __future__ import annotations

import datetime
import json
import random
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "lambda" / "s3seal" / "examples"
PRODUCTS = [
    ("SKU-1001", "Espresso beans 1kg", 24.90),
    ("SKU-1002", "Filter papers x100", 4.50),
    ("SKU-2001", "Burr grinder", 189.00),
    ("SKU-2002", "Milk frother", 59.99),
    ("SKU-3001", "Ceramic cup 250ml", 12.00),
    ("SKU-3002", "Travel mug", 21.50),
]


def sales(rng: random.Random) -> bytes:
    lines = ["sale_id|sale_date|region|sku|description|quantity|unit_price|total"]
    start = datetime.date(2026, 11, 1)
    for n in range(1, 241):
        sku, description, price = rng.choice(PRODUCTS)
        quantity = rng.randint(1, 12)
        day = start + datetime.timedelta(days=rng.randint(0, 22))
        region = rng.choice(["us-east", "us-west", "eu-central", "eu-west", "ap-south"])
        lines.append(
            f"{100000 + n}|{day.isoformat()}|{region}|{sku}|{description}|{quantity}"
            f"|{price:.2f}|{quantity * price:.2f}"
        )
    return ("\n".join(lines) + "\n").encode()


def clickstream(rng: random.Random, target_bytes: int = 6 * 1024 * 1024 + 12345) -> bytes:
    out = bytearray()
    moment = datetime.datetime(2026, 11, 24, 6, 0, tzinfo=datetime.UTC)
    pages = ["/", "/shop", "/shop/grinders", "/cart", "/checkout", "/account", "/help"]
    n = 0
    while len(out) < target_bytes:
        n += 1
        moment += datetime.timedelta(milliseconds=rng.randint(5, 900))
        event = {
            "event_id": n,
            "ts": moment.isoformat(timespec="milliseconds"),
            "session": f"s-{rng.randrange(16**8):08x}",
            "page": rng.choice(pages),
            "action": rng.choice(["view", "click", "scroll", "add_to_cart", "purchase"]),
            "latency_ms": rng.randint(12, 2400),
        }
        out += json.dumps(event, separators=(",", ":")).encode() + b"\n"
    return bytes(out)


def ventes(rng: random.Random) -> bytes:
    lines = ["vente_id|date|ville|produit|quantité|montant_eur"]
    villes = ["Zürich", "Genève", "Lyon", "Köln", "Málaga"]
    produits = ["Café moulu 500g", "Théière en fonte", "Tasse à café", "Crème brûlée (x4)"]
    for n in range(1, 801):
        quantite = rng.randint(1, 9)
        lines.append(
            f"{n}|2026-07-{rng.randint(1, 31):02d}|{rng.choice(villes)}|{rng.choice(produits)}"
            f"|{quantite}|{quantite * rng.uniform(3, 80):.2f}"
        )
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    rng = random.Random(20261124)  # noqa: S311 (sample data, not security)
    EXAMPLES.mkdir(exist_ok=True)
    (EXAMPLES / "sales.csv").write_bytes(sales(rng))
    (EXAMPLES / "clickstream.jsonl").write_bytes(clickstream(rng))
    (EXAMPLES / "ventes d'été 2026 — Zürich.csv").write_bytes(ventes(rng))


if __name__ == "__main__":
    main()
