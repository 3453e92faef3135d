CREATE DATABASE IF NOT EXISTS devices_data COMMENT 'raw events' LOCATION 's3://lake/' WITH DBPROPERTIES ('creator' = 'sluice');
CREATE SCHEMA master_data;
CREATE EXTERNAL TABLE IF NOT EXISTS devices_data.smart_devices_events (
  `time` double,
  deviceid string COMMENT 'device id',
  temperature_measure double,
  humidity_measure double,
  voltage_measure double,
  watt_measure double,
  tags array<string>,
  attrs map<string,int>,
  geo struct<lat:double,lon:double>
)
PARTITIONED BY (year int, month int, day int, hour int)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true', 'case.insensitive' = 'true')
LOCATION 's3://sluice-lake/events/'
TBLPROPERTIES ('has_encrypted_data' = 'false', 'classification' = 'json');
CREATE EXTERNAL TABLE master_data.smart_devices_location (device_id string, latitude double, longitude double, city string)
ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'
WITH SERDEPROPERTIES ('separatorChar' = ',', 'quoteChar' = '"', 'escapeChar' = '\\')
STORED AS TEXTFILE
LOCATION 'file:///var/lib/sluice/reference/locations/'
TBLPROPERTIES ('skip.header.line.count' = '1');
CREATE EXTERNAL TABLE ref.tsv (a string, b decimal(10,2), c varchar(20))
ROW FORMAT DELIMITED FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n' NULL DEFINED AS ''
STORED AS TEXTFILE LOCATION 'reference/tsv';
CREATE EXTERNAL TABLE p.events_parquet (deviceid string, temperature double) PARTITIONED BY (dt string)
STORED AS PARQUET LOCATION 's3://bucket/parquet/';
CREATE EXTERNAL TABLE p.io (x int) STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat' OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat' LOCATION '/tmp/x';
MSCK REPAIR TABLE devices_data.smart_devices_events;
DROP TABLE IF EXISTS devices_data.smart_devices_events;
DROP TABLE "master_data"."smart_devices_location";
DROP DATABASE IF EXISTS devices_data CASCADE;
DROP SCHEMA master_data RESTRICT;
