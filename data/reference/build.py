#!/usr/bin/env python3
"""Build the England-wide reference tables Marmot embeds (data/reference/england/*.parquet).

Run from the repository root with the shared reference data beside the checkout:
    python3 -m pip install duckdb==2.0.1   # PyPI; only needed to rebuild these files
    python3 data/reference/build.py ../shared/data
Every input is an Open Government Licence file listed in data/README.md. Nothing is computed
here beyond joins on the GSS code, renames and a type cast: the derivations Marmot makes (LSOA 2021
population from LSOA 2011 estimates, quintiles from deciles) live in marmot-lake, where they are
tested. Outputs are zstd-compressed Parquet sorted by code, so a rebuild from the same inputs is
byte-for-byte reproducible.
"""
import sys
from pathlib import Path

import duckdb

# Illustrative best fit of Hackney's 2020 wards (and the City) to City and Hackney's eight
# neighbourhoods (primary care network footprints). See data/README.md: not an official mapping.
NEIGHBOURHOOD_BY_WARD = {
    "Woodberry Down": "Woodberry Wetlands",
    "Brownswood": "Woodberry Wetlands",
    "Stamford Hill West": "Woodberry Wetlands",
    "Springfield": "Springfield Park",
    "Cazenove": "Springfield Park",
    "Clissold": "Clissold Park",
    "Stoke Newington": "Clissold Park",
    "Shacklewell": "Clissold Park",
    "Hackney Downs": "Hackney Downs",
    "Lea Bridge": "Hackney Downs",
    "Hackney Wick": "Hackney Marshes",
    "King's Park": "Hackney Marshes",
    "Homerton": "Hackney Marshes",
    "Victoria": "Well Street Common",
    "Hackney Central": "Well Street Common",
    "London Fields": "London Fields",
    "Dalston": "London Fields",
    "De Beauvoir": "London Fields",
    "Hoxton East & Shoreditch": "Shoreditch Park and City",
    "Hoxton West": "Shoreditch Park and City",
    "Haggerston": "Shoreditch Park and City",
}
CITY = "E09000001"

DOMAINS = ["imd", "income", "employment", "education", "health", "crime", "barriers", "living_env"]


def main(src: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    db = duckdb.connect()
    g21 = src / "geo2021"
    ranks = ", ".join(f"CAST(i.{d}_rank AS INTEGER) AS {d}_rank, CAST(i.{d}_decile AS INTEGER) AS {d}_decile" for d in DOMAINS)
    # LSOA 2021 -> ward 2024 -> LAD 2024 (best fit), IMD 2025 ranks and deciles, Census 2021 usual
    # residents (all ages) and Census 2021 ethnic group (TS021, five high-level groups).
    db.execute(f"""
      COPY (
        SELECT l.LSOA21CD AS lsoa_code, l.LSOA21NM AS lsoa_name, l.WD24CD AS ward_code,
               l.WD24NM AS ward_name, l.LAD24CD AS lad_code, l.LAD24NM AS lad_name, {ranks},
               CAST(c.all_ages AS INTEGER) AS census2021_residents,
               CAST(e.total_all_usual_residents AS INTEGER) AS ethnic_total,
               CAST(e.asian AS INTEGER) AS ethnic_asian, CAST(e.black AS INTEGER) AS ethnic_black,
               CAST(e.mixed AS INTEGER) AS ethnic_mixed, CAST(e.white AS INTEGER) AS ethnic_white,
               CAST(e.other AS INTEGER) AS ethnic_other
        FROM read_csv('{g21}/lsoa21_ward24_lad24_lookup_england.csv', all_varchar=true, quote='"', header=true, delim=',') l
        JOIN read_csv('{g21}/imd2025_lsoa21_england.csv', all_varchar=true, quote='"', header=true, delim=',') i ON i.lsoa21cd = l.LSOA21CD
        JOIN read_csv('{g21}/census2021_usual_residents_age6_lsoa21_england.csv', all_varchar=true, quote='"', header=true, delim=',') c ON c.lsoa21cd = l.LSOA21CD
        JOIN read_csv('{g21}/census2021_ts021_ethnic_group_lsoa21_england.csv', all_varchar=true, quote='"', header=true, delim=',') e ON e.lsoa21cd = l.LSOA21CD
        ORDER BY lsoa_code
      ) TO '{out}/lsoa2021.parquet' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 19)""")
    ages = lambda y: ", ".join(f"CAST(p{y}.age_{a} AS INTEGER) AS pop{y}_{a}" for a in range(90)) + f", CAST(p{y}.age_90_plus AS INTEGER) AS pop{y}_90"
    pop = src / "population"
    # LSOA 2011 -> ward (Dec 2020) -> LAD (Dec 2020), IMD 2019, and ONS mid-2019 and mid-2020
    # estimates by single year of age (persons; 90 = 90 and over).
    db.execute(f"""
      COPY (
        SELECT l.LSOA11CD AS lsoa_code, l.LSOA11NM AS lsoa_name, l.WD20CD AS ward_code,
               l.WD20NM AS ward_name, l.LAD20CD AS lad_code, l.LAD20NM AS lad_name, {ranks},
               {ages(2019)}, {ages(2020)}
        FROM read_csv('{src}/lookups/lsoa11_ward20_lad20_england.csv', all_varchar=true, quote='"', header=true, delim=',') l
        JOIN read_csv('{src}/imd2019/imd2019_lsoa11_england_ranks_deciles.csv', all_varchar=true, quote='"', header=true, delim=',') i ON i.lsoa11cd = l.LSOA11CD
        JOIN read_csv('{pop}/lsoa11_pop_mid2019_syoa_persons_england.csv', all_varchar=true, quote='"', header=true, delim=',') p2019 ON p2019.lsoa11cd = l.LSOA11CD
        JOIN read_csv('{pop}/lsoa11_pop_mid2020_syoa_persons_england.csv', all_varchar=true, quote='"', header=true, delim=',') p2020 ON p2020.lsoa11cd = l.LSOA11CD
        ORDER BY lsoa_code
      ) TO '{out}/lsoa2011.parquet' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 19)""")
    # ONS LSOA 2011 -> LSOA 2021 lookup (v2) with its change indicator (U, S, M, X).
    db.execute(f"""
      COPY (
        SELECT LSOA11CD AS lsoa11_code, LSOA21CD AS lsoa21_code, CHGIND AS change
        FROM read_csv('{g21}/lsoa11_lsoa21_lad22_lookup_england.csv', all_varchar=true, quote='"', header=true, delim=',')
        ORDER BY lsoa11_code, lsoa21_code
      ) TO '{out}/lsoa2011_lsoa2021.parquet' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 19)""")
    # ONS LSOA (2021) to Sub ICB Location to ICB (April 2024) lookup: NHS geography for datasets
    # published by sub-ICB (GP appointments). The input is in this repository (sources/), taken
    # from humaniverse/geographr's copy of the ONS file (data/README.md).
    sources = Path(__file__).resolve().parent / "sources"
    db.execute(f"""
      COPY (
        SELECT LSOA21CD AS lsoa_code, SICBL24CD AS sub_icb_code, SICBL24CDH AS sub_icb_nhs_code,
               SICBL24NM AS sub_icb_name, ICB24CD AS icb_code, ICB24CDH AS icb_nhs_code,
               ICB24NM AS icb_name
        FROM read_csv('{sources}/lsoa21_sicbl24_icb24_lookup_england.csv.gz', all_varchar=true, quote='"', header=true, delim=',')
        ORDER BY lsoa_code
      ) TO '{out}/lsoa2021_sub_icb2024.parquet' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 19)""")
    # ONS LSOA (2011) to MSOA (2011) lookup, England: for data published by MSOA 2011 (UKHSA's
    # weekly COVID-19 cases by MSOA). Input in sources/, from humaniverse/geographr's copy of the
    # ONS file (data/README.md).
    db.execute(f"""
      COPY (
        SELECT lsoa11_code, msoa11_code, msoa11_name
        FROM read_csv('{sources}/lsoa11_msoa11_lookup_england.csv.gz', all_varchar=true, quote='"', header=true, delim=',')
        ORDER BY lsoa11_code
      ) TO '{out}/lsoa2011_msoa2011.parquet' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 19)""")
    # City and Hackney's illustrative neighbourhoods (data/README.md): whole 2024 wards assigned to
    # the neighbourhood they mostly lie in; the City of London's LSOAs to Shoreditch Park and City.
    places = Path(__file__).resolve().parents[1] / "places"
    rows = db.execute(f"""
      SELECT LSOA21CD, WD24NM, LAD24CD
      FROM read_csv('{g21}/lsoa21_ward24_lad24_lookup_england.csv', all_varchar=true, quote='"', header=true, delim=',')
      WHERE LAD24CD IN ('{CITY}', 'E09000012') ORDER BY LSOA21CD""").fetchall()
    with open(places / "city-and-hackney-neighbourhoods.csv", "w", encoding="utf-8") as f:
        f.write("lsoa_code,neighbourhood\n")
        for code, ward, lad in rows:
            f.write(f"{code},{'Shoreditch Park and City' if lad == CITY else NEIGHBOURHOOD_BY_WARD[ward]}\n")
    for f in sorted(out.glob("*.parquet")):
        n = db.execute(f"SELECT count(*) FROM '{f}'").fetchone()[0]
        print(f"{f.name}: {n} rows, {f.stat().st_size:,} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).resolve().parent / "england")
