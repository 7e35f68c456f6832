/*
id = "street_crime_violence"
title = "Violence and sexual offences (police.uk)"
definition = "Violence and sexual offences recorded by the police and published on police.uk (street-level crime, read with the police-uk mapping), counted in the LSOA of the offence's anonymised map point, crude rate per 1,000 usual residents (all ages), Byar's 95% confidence interval (exact Poisson below 10). The denominator is residents: where many more people work or visit than live (the City of London) the rate is per resident, not per person present."
source = "street_crime"
measure = "crude_rate"
multiplier = 1000
polarity = "lower_is_better"
grain = "month"
disclosure_threshold = 8
breakdowns = ["imd_quintile", "imd_decile", "local_imd_quintile"]
[denominator]
kind = "population"
*/
SELECT lsoa_code, month AS event_date, 1 AS numerator
FROM street_crime
WHERE crime_type = 'Violence and sexual offences'
