/*
id = "covid_admissions"
title = "COVID-19 admissions"
definition = "Hospital admissions of residents with a primary diagnosis of COVID-19 (ICD-10 U07.1, U07.2), crude rate per 100,000 population."
source = "admissions"
measure = "crude_rate"
multiplier = 100000
polarity = "lower_is_better"
grain = "week"
disclosure_threshold = 8
breakdowns = ["imd_quintile", "imd_decile", "local_imd_quintile", "sex", "age_band", "ethnic_group"]
[denominator]
kind = "population"
*/
SELECT lsoa_code, admission_date AS event_date, age, sex, 1 AS numerator,
       -- NHS ethnic category (2001 Census codes) to the Census 2021 high-level groups.
       nhs_ethnic_group(ethnic_category) AS ethnic_group
FROM admissions
WHERE primary_diagnosis LIKE 'U07%'
